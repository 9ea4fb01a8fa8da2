import CRabbitMQ

/// TLS socket setup over rabbitmq-c's OpenSSL socket.
enum TLSSocket {
    static func make(_ state: amqp_connection_state_t, _ tls: AMQPTLS) throws -> OpaquePointer? {
        guard let socket = amqp_ssl_socket_new(state) else {
            throw AMQPError.tlsFailed(endpoint: "-", reason: "cannot create TLS socket (OpenSSL initialisation failed)")
        }
        let status = amqp_ssl_socket_set_cacert(socket, tls.caFile)
        if status != AMQP_STATUS_OK.rawValue {
            throw AMQPError.configuration("cannot load CA file \(tls.caFile): \(Session.statusText(status))")
        }
        switch (tls.certFile, tls.keyFile) {
        case (let cert?, let key?):
            let status = amqp_ssl_socket_set_key(socket, cert, key)
            if status != AMQP_STATUS_OK.rawValue {
                throw AMQPError.configuration(
                    "cannot load client certificate \(cert) / key \(key): \(Session.statusText(status))")
            }
        case (nil, nil):
            break
        default:
            throw AMQPError.configuration("TLS client certificate needs both certFile and keyFile")
        }
        amqp_ssl_socket_set_verify_peer(socket, tls.verifyPeer ? 1 : 0)
        amqp_ssl_socket_set_verify_hostname(socket, tls.verifyHostname ? 1 : 0)
        return socket
    }

    static func isTLSStatus(_ status: Int32) -> Bool {
        status == AMQP_STATUS_SSL_ERROR.rawValue || status == AMQP_STATUS_SSL_HOSTNAME_VERIFY_FAILED.rawValue
            || status == AMQP_STATUS_SSL_PEER_VERIFY_FAILED.rawValue
            || status == AMQP_STATUS_SSL_CONNECTION_FAILED.rawValue
            || status == AMQP_STATUS_SSL_SET_ENGINE_FAILED.rawValue
    }
}
