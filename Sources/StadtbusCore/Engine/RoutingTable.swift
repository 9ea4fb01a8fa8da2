import StadtbusXML

/// Why a routing table cannot be built (the config loader reports these with positions
/// before they can happen; this is the engine's own guard).
public struct RoutingTableError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// The compiled, immutable configuration the engine routes with. Hot reload swaps a whole
/// table at once (``RoutingEngine/replace(with:)``).
public final class RoutingTable: Sendable {
    /// Routes in configuration order (the first matching route wins).
    public let routes: [Route]
    public let endpoints: [String: Endpoint]
    public let headerExtractor: HeaderExtractor
    /// Reads headers without building the document's tree, for routes that do not read the
    /// document; `nil` when a header profile cannot be scanned (see ``HeaderScanner``).
    public let headerScanner: HeaderScanner?
    public let parseLimits: XMLParseLimits
    /// Dead-letter endpoint for failures before a route is known (no route, unparseable).
    public let defaultDeadLetter: String?
    /// A label for logs (e.g. the config file and load time).
    public let version: String
    /// Resolves `directory:reader` / `directory:author` destinations.
    public let addressDirectory: AddressDirectory

    private let routesByName: [String: Int]
    private let routesBySource: [String: [Int]]

    /// Builds a table, checking that every destination exists and route references have no cycle.
    public init(
        routes: [Route], endpoints: [Endpoint], headerExtractor: HeaderExtractor,
        parseLimits: XMLParseLimits = .default,
        defaultDeadLetter: String? = nil, version: String = "", addressDirectory: AddressDirectory = AddressDirectory()
    ) throws {
        var byName: [String: Int] = [:]
        var bySource: [String: [Int]] = [:]
        for (index, route) in routes.enumerated() {
            guard byName[route.name] == nil else {
                throw RoutingTableError(message: "route '\(route.name)' is defined twice")
            }
            byName[route.name] = index
            if let source = route.source { bySource[source, default: []].append(index) }
        }
        var endpointsByName: [String: Endpoint] = [:]
        for endpoint in endpoints { endpointsByName[endpoint.name] = endpoint }
        for route in routes {
            for destination in route.routing.allDestinations {
                switch destination {
                case .endpoint(let name) where endpointsByName[name] == nil:
                    throw RoutingTableError(message: "route '\(route.name)' sends to unknown endpoint '\(name)'")
                case .route(let name) where byName[name] == nil:
                    throw RoutingTableError(message: "route '\(route.name)' sends to unknown route '\(name)'")
                case .directory(let role) where addressDirectory.isEmpty:
                    throw RoutingTableError(
                        message:
                            "route '\(route.name)' sends to 'directory:\(role.rawValue)' but the address directory is empty"
                    )
                default: break
                }
            }
            for name in route.wireTaps + [route.errorPolicy.deadLetter].compactMap({ $0 })
            where endpointsByName[name] == nil {
                throw RoutingTableError(message: "route '\(route.name)' names unknown endpoint '\(name)'")
            }
        }
        for entry in addressDirectory.entries.values.sorted(by: { $0.kennung < $1.kennung })
        where endpointsByName[entry.endpoint] == nil {
            throw RoutingTableError(
                message: "address directory entry '\(entry.kennung)' names unknown endpoint '\(entry.endpoint)'")
        }
        self.routes = routes
        self.addressDirectory = addressDirectory
        self.endpoints = endpointsByName
        self.headerExtractor = headerExtractor
        self.headerScanner = try? HeaderScanner(profiles: headerExtractor.profiles)
        self.parseLimits = parseLimits
        self.defaultDeadLetter = defaultDeadLetter
        self.version = version
        self.routesByName = byName
        self.routesBySource = bySource
        if let cycle = Self.findCycle(in: routes, byName: byName) {
            throw RoutingTableError(message: "routes form a cycle: " + cycle.joined(separator: " → "))
        }
    }

    /// The route called `name`.
    public func route(named name: String) -> Route? { routesByName[name].map { routes[$0] } }

    /// Routes reading from `endpoint`, in configuration order.
    public func routes(from endpoint: String) -> [Route] { (routesBySource[endpoint] ?? []).map { routes[$0] } }

    /// A cycle of route-to-route references, as route names ending where they started.
    public static func findCycle(in routes: [Route], byName: [String: Int]) -> [String]? {
        var state: [String: Int] = [:]  // 1 = on stack, 2 = done
        var stack: [String] = []
        func visit(_ name: String) -> [String]? {
            if state[name] == 2 { return nil }
            if state[name] == 1 {
                let start = stack.firstIndex(of: name) ?? 0
                return Array(stack[start...]) + [name]
            }
            state[name] = 1
            stack.append(name)
            if let index = byName[name] {
                for case .route(let next) in routes[index].routing.allDestinations {
                    if let cycle = visit(next) { return cycle }
                }
            }
            stack.removeLast()
            state[name] = 2
            return nil
        }
        for route in routes {
            if let cycle = visit(route.name) { return cycle }
        }
        return nil
    }
}
