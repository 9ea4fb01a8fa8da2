import StadtbusCore

extension LoadSession {
    /// Steps a module outside StadtbusConfig provides, with what to link for them: a
    /// configuration that uses one in a build without it fails to load, with this hint.
    static let moduleSteps: [String: String] = [
        "sign": "StadtbusStandard (StadtbusSignature)",
        "verify": "StadtbusStandard (StadtbusSignature)",
    ]

    /// A step from the loader's ``StepRegistry`` (`sign`, `verify`, adapter steps), its
    /// settings checked against the factory's schema; an unregistered name is reported here.
    func registeredStep(_ name: String, _ node: YNode?, at nameNode: YNode, known: [String]) -> (any RouteStep)? {
        guard let factory = loader.steps.factory(named: name) else {
            if let module = Self.moduleSteps[name] {
                diagnostics.error(
                    nameNode.position,
                    "step '\(name)' is not available in this build: link \(module) and load with its StandardLoader")
            } else {
                diagnostics.error(
                    nameNode.position,
                    "unknown step '\(name)'"
                        + (DidYouMean.suggestion(for: name, in: known).map { " — did you mean '\($0)'?" }
                            ?? " — expected one of: " + known.joined(separator: ", ")))
            }
            return nil
        }
        let configured = factory as? any ConfiguredStepFactory
        let context = "step '\(factory.name)'"
        let schema = factory.settingsSchema
        let reported = diagnostics.items.count
        var values: [String: ConfigValue] = [:]
        /// Where each given setting's value is, to report a factory's ``StepSettingError`` there.
        var valueNodes: [String: YNode] = [:]
        if let node, let shorthand = configured?.shorthandSetting, node.scalar != nil,
            let field = schema.field(named: shorthand)
        {
            // `sign: NAME` is `sign: { key: NAME }`.
            if let value = reader.value(node, field.type, "'\(shorthand)' of \(context)") { values[shorthand] = value }
            valueNodes[shorthand] = node
            values.merge(missingSettings(of: schema, given: [shorthand], context: context, at: nameNode)) { $1 }
        } else if let node {
            guard let fields = reader.fields(node, context, allowed: schema.fields.map(\.name)) else { return nil }
            values = reader.settings(fields, schema: schema, context: context)
            for entry in fields.entries { valueNodes[entry.key] = entry.value }
        } else {
            values = missingSettings(of: schema, given: [], context: context, at: nameNode)
        }
        // A factory is only asked for a step whose settings are all valid.
        guard diagnostics.items.count == reported else { return nil }
        do {
            if let configured {
                let declaredKeys = Set(named["keys"]?.map(\.name) ?? [])
                let stepContext = StepContext(
                    settings: settings, brokenKeys: declaredKeys.subtracting(settings.keys.keys))
                return try configured.makeStep(settings: values, context: stepContext)
            }
            return try factory.makeStep(settings: values)
        } catch let error as StepSettingError {
            if !error.isReportedElsewhere {
                diagnostics.error(valueNodes[error.setting]?.position ?? nameNode.position, error.message)
            }
        } catch {
            diagnostics.error(nameNode.position, "\(context): \(error)")
        }
        return nil
    }

    /// The defaults of the settings not `given`; a required one missing is reported at the step.
    private func missingSettings(
        of schema: SettingsSchema, given: Set<String>, context: String, at nameNode: YNode
    ) -> [String: ConfigValue] {
        var values: [String: ConfigValue] = [:]
        for field in schema.fields where !given.contains(field.name) {
            if field.required {
                diagnostics.error(nameNode.position, "\(context) is missing '\(field.name)' (\(field.type))")
            } else if let value = field.defaultValue {
                values[field.name] = value
            }
        }
        return values
    }
}
