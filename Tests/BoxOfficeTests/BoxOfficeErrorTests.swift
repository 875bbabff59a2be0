import BoxOffice
import Testing

@Suite struct ValidatorTests {
    @Test func collectsEveryFailedCheckBeforeRefusing() {
        var validator = Validator()
        validator.check(false, "email", "must contain @")
        validator.check(true, "name", "never shown")
        validator.check(false, "password", "is too short")
        #expect { try validator.validate() } throws: { error in
            guard let error = error as? BoxOfficeError else { return false }
            return error.kind == .validation && error.fieldErrors.map(\.field) == ["email", "password"]
        }
    }

    @Test func passesWhenEveryCheckHolds() throws {
        var validator = Validator()
        validator.check(true, "email", "unused")
        try validator.validate()
    }
}
