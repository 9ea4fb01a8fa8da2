import Foundation
import StadtbusSignature
import XCTest

/// A small PKI of its own for the `verify` hardening tests, made with the `openssl` CLI in a
/// fresh temporary directory (once per test process): a test CA with signing certificates
/// for Stadt Itzehoe (ags:01061046) that differ in their extendedKeyUsage, one of them
/// revoked, the CA's CRL (PEM and DER), an expired CRL and a CRL of a foreign CA.
enum TestPKI {
    static let directory: Result<String, any Error> = Result {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("stadtbus-verify-pki-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try Fixtures.run(script, environment: ["OUT": directory])
        return directory
    }

    static func path(_ file: String) throws -> String { (try directory.get() as NSString).appendingPathComponent(file) }

    /// A signing key of the test PKI (`good`, `revoked`, `tls`, `code`, `email`, `docsign`).
    static func key(_ name: String) throws -> SigningKey {
        try SigningKey(pemKey: try path("\(name).key"), certificate: try path("\(name).pem"))
    }

    /// A new trust store directory holding the test CA and copies of `files` of the PKI
    /// directory (each under the name given).
    static func trustDirectory(_ files: [String: String] = [:], withDevelopmentCA: Bool = false) throws -> String {
        let trust = FileManager.default.temporaryDirectory.appendingPathComponent("stadtbus-trust-\(UUID().uuidString)")
            .path
        try FileManager.default.createDirectory(atPath: trust, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: try path("ca.pem"), toPath: trust + "/test-ca.pem")
        for (source, name) in files {
            try FileManager.default.copyItem(atPath: try path(source), toPath: trust + "/" + name)
        }
        if withDevelopmentCA {
            _ = try Fixtures.extraDirectory()  // runs certs/make-dev-certs
            try FileManager.default.copyItem(
                atPath: Fixtures.trustDirectory + "/dev-ca.pem", toPath: trust + "/dev-ca.pem")
        }
        return trust
    }

    private static let script = #"""
        set -euo pipefail
        umask 077
        cd "$OUT"
        mkdir -p db && : > db/index.txt && echo 1000 > db/serial && echo 1000 > db/crlnumber
        subj='/C=DE/O=Stadt Itzehoe/OU=Stadtbus/CN=Stadt Itzehoe/serialNumber=ags:01061046'
        usage='basicConstraints=CA:FALSE
        keyUsage=critical,digitalSignature,nonRepudiation
        subjectAltName=URI:urn:de:ags:01061046'
        {
            printf '%s\n' '[ca]' 'default_ca=test' '[test]' 'dir=./db' 'database=$dir/index.txt' 'new_certs_dir=$dir' \
                'serial=$dir/serial' 'crlnumber=$dir/crlnumber' 'default_md=sha256' 'policy=any' 'unique_subject=no' \
                'default_days=365' 'default_crl_days=30' '[any]' 'commonName=supplied'
            printf '[good]\n%s\n' "$usage"
            printf '[revoked]\n%s\n' "$usage"
            printf '[tls]\n%s\n%s\n' "$usage" 'extendedKeyUsage=serverAuth,clientAuth'
            printf '[code]\n%s\n%s\n' "$usage" 'extendedKeyUsage=codeSigning'
            printf '[email]\n%s\n%s\n' "$usage" 'extendedKeyUsage=clientAuth,emailProtection'
            printf '[docsign]\n%s\n%s\n' "$usage" 'extendedKeyUsage=1.3.6.1.5.5.7.3.36'
        } > ca.cnf
        ec='-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes'
        openssl req -x509 $ec -days 365 -keyout ca.key -out ca.pem -subj '/C=DE/O=Stadtbus Test/CN=Stadtbus Test CA' \
            -addext 'basicConstraints=critical,CA:TRUE' -addext 'keyUsage=critical,keyCertSign,cRLSign' 2>/dev/null
        for name in good revoked tls code email docsign; do
            openssl req -new $ec -keyout "$name.key" -out "$name.csr" -subj "$subj" 2>/dev/null
            openssl ca -batch -config ca.cnf -cert ca.pem -keyfile ca.key -in "$name.csr" -out "$name.pem" \
                -extensions "$name" -extfile ca.cnf -preserveDN -notext 2>/dev/null
        done
        openssl ca -config ca.cnf -cert ca.pem -keyfile ca.key -revoke revoked.pem -crl_reason keyCompromise 2>/dev/null
        openssl ca -config ca.cnf -cert ca.pem -keyfile ca.key -gencrl -out ca.crl.pem 2>/dev/null
        openssl crl -in ca.crl.pem -outform DER -out ca.crl
        openssl ca -config ca.cnf -cert ca.pem -keyfile ca.key -gencrl -crl_lastupdate 20200101000000Z \
            -crl_nextupdate 20200201000000Z -out expired.crl.pem 2>/dev/null
        openssl req -x509 $ec -days 365 -keyout foreign-ca.key -out foreign-ca.pem -subj '/C=DE/O=Somebody Else/CN=Foreign CA' \
            -addext 'basicConstraints=critical,CA:TRUE' -addext 'keyUsage=critical,keyCertSign,cRLSign' 2>/dev/null
        openssl ca -config ca.cnf -cert foreign-ca.pem -keyfile foreign-ca.key -gencrl -out foreign.crl.pem 2>/dev/null
        # A CRL naming the test CA as issuer but signed with another key.
        openssl req -x509 $ec -days 365 -keyout impostor-ca.key -out impostor-ca.pem \
            -subj '/C=DE/O=Stadtbus Test/CN=Stadtbus Test CA' \
            -addext 'basicConstraints=critical,CA:TRUE' -addext 'keyUsage=critical,keyCertSign,cRLSign' 2>/dev/null
        openssl ca -config ca.cnf -cert impostor-ca.pem -keyfile impostor-ca.key -gencrl -out forged.crl.pem 2>/dev/null
        """#
}
