/// What a waiting person is told about their wait: the rule, apart from where its figures come from.
public struct QueueEstimate: Sendable, Equatable {
    /// Admissions per second to expect: what the room has achieved since its first admission
    /// (bounded by seats coming free, not just by the configured rate) once that is a few
    /// seconds old, else the configured rate; never more than the configured rate.
    public static func admissionsPerSecond(admitted: Int, sinceFirstAdmission milliseconds: Int, configured: Double) -> Double {
        guard configured > 0 else { return 0 }
        guard admitted > 0, milliseconds >= 2000 else { return configured }
        return min(configured, Double(admitted) / (Double(milliseconds) / 1000))
    }

    /// Seconds until a person with `ahead` people before them is admitted; nil when nobody is
    /// being admitted (paused, or the rate is zero).
    public static func waitSeconds(ahead: Int, perSecond: Double, paused: Bool) -> Int? {
        guard !paused, perSecond > 0 else { return nil }
        return Int((Double(ahead + 1) / perSecond).rounded(.up))
    }
}
