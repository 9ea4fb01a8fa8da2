import Foundation
import StadtbusCore
import StadtbusXML
import Yams

extension LoadSession {
    static let routeKeys = [
        "name", "description", "from", "namespaces", "when", "steps", "to", "choice", "wire-tap", "on-error",
    ]

    /// Compiles `routes:`: names first (so routes can refer to each other), then each route,
    /// then the check for cycles through `route:` destinations.
    func compileRoutes(_ nodes: [YNode]) -> [Route] {
        var names: [String: SourcePosition] = [:]
        var order: [(String, YNode)] = []
        for node in nodes {
            guard case .mapping(let mapping) = node.node else {
                diagnostics.error(
                    node.position, "a route must be a mapping (name, from, steps, to, …), found \(node.kind)")
                continue
            }
            guard
                let nameValue = mapping.first(where: { $0.key.scalar?.string == "name" }).map({
                    YNode(node: $0.value, file: node.file)
                })
            else {
                diagnostics.error(node.position, "route is missing 'name'")
                continue
            }
            guard let name = reader.string(nameValue, "route name") else { continue }
            if let first = names[name] {
                diagnostics.error(nameValue.position, "route '\(name)' is already defined at \(first)")
                continue
            }
            names[name] = nameValue.position
            order.append((name, node))
        }
        routeNames = names
        let routes = order.compactMap { compileRoute($0.0, $0.1) }
        var byName: [String: Int] = [:]
        for (index, route) in routes.enumerated() { byName[route.name] = index }
        if let cycle = RoutingTable.findCycle(in: routes, byName: byName), let first = cycle.first,
            let position = names[first]
        {
            diagnostics.error(
                position,
                "route cycle: " + cycle.joined(separator: " → ")
                    + " (a route must not reach itself through 'route:' destinations)")
        }
        return routes
    }

    private func compileRoute(_ name: String, _ node: YNode) -> Route? {
        let context = "route '\(name)'"
        guard let fields = reader.fields(node, context, allowed: Self.routeKeys) else { return nil }
        let errorsBefore = diagnostics.items.count
        var namespaces = settings.namespaces
        if let ns = fields["namespaces"] {
            if case .mapping(let mapping) = ns.node {
                for (key, value) in mapping {
                    if let prefix = key.scalar?.string,
                        let uri = reader.string(YNode(node: value, file: ns.file), "namespace '\(prefix)'")
                    {
                        namespaces[prefix] = uri
                    }
                }
            } else {
                diagnostics.error(
                    ns.position, "'namespaces' of \(context) must be a mapping prefix: URI, found \(ns.kind)")
            }
        }
        var source: String?
        if let from = fields["from"], let endpointName = reader.string(from, "from") {
            if let endpoint = settings.endpoints[endpointName] {
                if loader.adapterTypes[endpoint.type]?.canReceive == false {
                    diagnostics.error(
                        from.position,
                        "endpoint '\(endpointName)' (type \(endpoint.type)) cannot receive; a route's 'from' must be an inbound endpoint"
                    )
                }
                source = endpointName
            } else if named["endpoints"]?.contains(where: { $0.name == endpointName }) != true {
                diagnostics.error(
                    from.position,
                    "unknown endpoint '\(endpointName)' in 'from'"
                        + (DidYouMean.suggestion(for: endpointName, in: Array(settings.endpoints.keys)).map {
                            " — did you mean '\($0)'?"
                        }
                            ?? " — declare it under 'endpoints:'"))
            }
        }
        compilingRouteCondition = true
        let condition = fields["when"].flatMap { self.condition($0, namespaces: namespaces) } ?? .always
        compilingRouteCondition = false
        var steps: [any RouteStep] = []
        if let stepsNode = fields["steps"] {
            if case .sequence = stepsNode.node {
                var correlated = false
                for element in stepsNode.listElements {
                    guard let step = step(element, namespaces: namespaces) else { continue }
                    // A route with `from` starts without a case; one reached as `route:NAME` may inherit its caller's.
                    if source != nil, !correlated, Self.readsCase(step) {
                        diagnostics.error(
                            element.position,
                            "step '\(step.name)' reads the case ({case.…} or 'case:') but no 'correlate' step comes before it in \(context)"
                        )
                    }
                    if step is CorrelateStep { correlated = true }
                    steps.append(step)
                }
            } else {
                diagnostics.error(
                    stepsNode.position,
                    "'steps' of \(context) must be a list (each step starts with '-'), found \(stepsNode.kind)")
            }
        }
        var routing: Routing?
        switch (fields["to"], fields["choice"]) {
        case (nil, nil):
            diagnostics.error(
                fields.node.position, "\(context) needs 'to' (destinations) or 'choice' (content-based routing)")
        case (.some, .some):
            diagnostics.error(
                fields.keyPosition("choice"),
                "\(context) has both 'to' and 'choice' — use one (put 'to' in an 'otherwise' branch)")
        case (let to?, nil):
            routing = destinations(to, "'to'").map(Routing.to)
        case (nil, let choice?):
            routing = self.choice(choice, namespaces: namespaces).map(Routing.choice)
        }
        var wireTaps: [String] = []
        if let tap = fields["wire-tap"] {
            wireTaps = (reader.strings(tap, "wire-tap") ?? []).filter { name in
                sendableEndpoint(name, at: tap, role: "wire-tap")
            }
        }
        let policy = fields["on-error"].flatMap { errorPolicy($0, base: defaultErrorPolicy) } ?? defaultErrorPolicy
        guard diagnostics.items.count == errorsBefore, let routing else { return nil }
        return Route(
            name: name, source: source, condition: condition, steps: steps, routing: routing, wireTaps: wireTaps,
            errorPolicy: policy)
    }

    /// `to:` — one destination or a list; `route:NAME` names another route.
    func destinations(_ node: YNode, _ what: String) -> [Destination]? {
        guard let names = reader.strings(node, what) else { return nil }
        var result: [Destination] = []
        let elements = node.listElements
        for (index, name) in names.enumerated() {
            let at = index < elements.count ? elements[index] : node
            if name.hasPrefix("directory:") {
                let roleName = String(name.dropFirst(10))
                guard let role = DirectoryRole(rawValue: roleName) else {
                    diagnostics.error(
                        at.position,
                        "unknown directory destination '\(name)' in \(what) — expected 'directory:reader' or 'directory:author'"
                    )
                    continue
                }
                guard addressDirectoryDeclared else {
                    diagnostics.error(
                        at.position,
                        "'\(name)' in \(what) needs an 'address-directory:' section mapping kennung to endpoint")
                    continue
                }
                result.append(.directory(role))
            } else if name.hasPrefix("route:") {
                let target = String(name.dropFirst(6))
                guard routeNames[target] != nil else {
                    diagnostics.error(
                        at.position,
                        "unknown route '\(target)' in \(what)"
                            + (DidYouMean.suggestion(for: target, in: Array(routeNames.keys)).map {
                                " — did you mean 'route:\($0)'?"
                            } ?? ""))
                    continue
                }
                result.append(.route(target))
            } else if sendableEndpoint(name, at: at, role: what) {
                result.append(.endpoint(name))
            }
        }
        return result.count == names.count ? result : nil
    }

    /// `choice:` — a list of `{when: CONDITION, to: …}` and a final `{otherwise: …}`.
    private func choice(_ node: YNode, namespaces: [String: String]) -> [ChoiceBranch]? {
        guard case .sequence = node.node else {
            diagnostics.error(
                node.position,
                "'choice' must be a list of branches ('- when: …' / '- otherwise: …'), found \(node.kind)")
            return nil
        }
        var branches: [ChoiceBranch] = []
        let elements = node.listElements
        var ok = true
        for (index, element) in elements.enumerated() {
            guard let fields = reader.fields(element, "a choice branch", allowed: ["when", "to", "otherwise"]) else {
                ok = false
                continue
            }
            if let otherwise = fields["otherwise"] {
                if fields.has("when") || fields.has("to") {
                    diagnostics.error(
                        fields.keyPosition("otherwise"),
                        "an 'otherwise' branch stands alone: write '- otherwise: { to: [...] }'")
                    ok = false
                    continue
                }
                if index != elements.count - 1 {
                    diagnostics.error(
                        fields.keyPosition("otherwise"), "'otherwise' must be the last branch of 'choice'")
                    ok = false
                }
                var target = otherwise
                if case .mapping = otherwise.node {
                    guard let inner = reader.fields(otherwise, "'otherwise'", allowed: ["to"]),
                        let to = reader.require(inner, "to", "'otherwise'", expected: "destinations")
                    else {
                        ok = false
                        continue
                    }
                    target = to
                }
                if let destinations = destinations(target, "'otherwise'") {
                    branches.append(ChoiceBranch(condition: nil, destinations: destinations))
                } else {
                    ok = false
                }
                continue
            }
            guard
                let when = reader.require(
                    fields, "when", "a choice branch", expected: "a condition, or use 'otherwise'"),
                let to = reader.require(fields, "to", "a choice branch", expected: "destinations")
            else {
                ok = false
                continue
            }
            let condition = self.condition(when, namespaces: namespaces)
            let destinations = destinations(to, "'to' of a choice branch")
            guard let condition, let destinations else {
                ok = false
                continue
            }
            branches.append(ChoiceBranch(condition: condition, destinations: destinations))
        }
        return ok && !branches.isEmpty ? branches : nil
    }
}
