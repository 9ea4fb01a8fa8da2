import Foundation
import Hummingbird

/// The JSON answers of an `http-in` endpoint.
enum HTTPInAnswer {
    /// 202 `{"status":"accepted","id":"…"}`: the message is in the intake queue.
    static func accepted(id: String) -> Response {
        json(.accepted, ["status": "accepted", "id": id])
    }

    /// `{"status":"rejected","reason":"…"}` with `status` and extra headers.
    static func rejected(_ status: HTTPResponse.Status, reason: String, headers extra: HTTPFields = [:]) -> Response {
        var response = json(status, ["status": "rejected", "reason": reason])
        response.headers.append(contentsOf: extra)
        return response
    }

    private static func json(_ status: HTTPResponse.Status, _ fields: [String: String]) -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let body =
            (try? encoder.encode(fields)).map { String(decoding: $0, as: UTF8.self) } ?? #"{"status":"rejected"}"#
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: body)))
    }
}
