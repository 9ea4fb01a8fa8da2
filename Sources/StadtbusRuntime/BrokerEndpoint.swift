import StadtbusAMQP
import StadtbusConfig

/// Turns the configuration's `broker:` section into the transport's endpoint.
public enum BrokerEndpoint {
    /// The endpoint for `settings`, announcing itself to the broker as `name`.
    public static func make(from settings: BrokerSettings, name: String) throws -> AMQPEndpoint {
        let password: AMQPSecret
        switch settings.password {
        case .environment(let variable): password = .env(variable)
        case .file(let path): password = .file(path)
        case nil: password = .literal("guest")
        }
        let tls = settings.tls.map { tls in
            AMQPTLS(caFile: tls.ca ?? "", certFile: tls.certificate, keyFile: tls.key)
        }
        return AMQPEndpoint(
            host: settings.host, port: settings.port, vhost: settings.vhost, username: settings.user,
            password: password,
            heartbeat: Int(settings.heartbeat.components.seconds), tls: tls, connectionName: name)
    }
}
