import AMQPAdapter
import ExecAdapter
import FileAdapter
import HTTPInAdapter
import HTTPOutAdapter
import LogAdapter
import StadtbusAdapterKit

/// The adapters built into the `stadtbus` executable. To add one: create `adapters/NAME/`
/// with a type conforming to ``Adapter``, add its target to Package.swift (and to this
/// target's dependencies), and add one line below.
public enum StandardAdapters {
    public static let registry = AdapterRegistry([
        AMQPAdapter(),
        FileAdapter(),
        HTTPOutAdapter(),
        HTTPInAdapter(),
        LogAdapter(),
        ExecAdapter(),
    ])
}
