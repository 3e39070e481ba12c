/// A configuration value the bridge refuses, naming the key, the variable and the fix.
package struct ConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The offending key as written by the user: the YAML path, the environment variable, or both.
    package var key: String
    /// What is wrong.
    package var problem: String
    /// How to fix it.
    package var fix: String

    /// Creates an error.
    package init(key: String, problem: String, fix: String) {
        self.key = key
        self.problem = problem
        self.fix = fix
    }

    package var description: String { "configuration error in \(key): \(problem). Fix: \(fix)" }
}
