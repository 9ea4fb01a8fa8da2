// Thin C shim over rabbitmq-c (Debian: librabbitmq-dev).
//
// Swift cannot call C-variadic functions, and rabbitmq-c's `amqp_login` and
// `amqp_login_with_properties` are variadic (the SASL arguments follow the method).
// This header re-exports the library and adds non-variadic wrappers for PLAIN login.
#ifndef STADTBUS_CRABBITMQ_H
#define STADTBUS_CRABBITMQ_H

#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_tcp_socket.h>
#include <amqp_ssl_socket.h>

/// Logs in with SASL PLAIN (non-variadic wrapper for `amqp_login`).
amqp_rpc_reply_t stadtbus_amqp_login_plain(amqp_connection_state_t state,
                                           const char *vhost,
                                           int channel_max,
                                           int frame_max,
                                           int heartbeat,
                                           const char *user,
                                           const char *password);

/// Logs in with SASL PLAIN and client properties (wrapper for `amqp_login_with_properties`).
amqp_rpc_reply_t stadtbus_amqp_login_plain_with_properties(amqp_connection_state_t state,
                                                           const char *vhost,
                                                           int channel_max,
                                                           int frame_max,
                                                           int heartbeat,
                                                           const amqp_table_t *properties,
                                                           const char *user,
                                                           const char *password);

/// Logs in with SASL EXTERNAL (client certificate identity, for mTLS).
amqp_rpc_reply_t stadtbus_amqp_login_external(amqp_connection_state_t state,
                                              const char *vhost,
                                              int channel_max,
                                              int frame_max,
                                              int heartbeat,
                                              const char *identity);

#endif
