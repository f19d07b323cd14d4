import BreakerCore
import BreakwaterConfig
import SharedBreaker

extension SharedBreakerOptions {
    /// Maps a collector's validated `breaker:` settings to shared-breaker options.
    ///
    /// The probe lease is the call timeout plus a 5 s margin, so a prober killed mid-call
    /// frees its permit soon after its call would have timed out anyway.
    /// - Parameters:
    ///   - settings: the `breaker:` block of a collector.
    ///   - callTimeout: the collector's `timeout_seconds`.
    public init(settings: BreakerSettings, callTimeout: Duration) {
        var policies: [TripPolicy] = [.consecutiveFailures(settings.failureThreshold)]
        if let window = settings.failureWindow {
            policies.append(.failuresInWindow(count: window.count, window: window.window))
        }
        if let rate = settings.failureRate {
            policies.append(.failureRate(percent: rate.percent, window: rate.window.slidingWindow, minimumCalls: rate.minimumCalls))
        }
        if let slow = settings.slowCallRate {
            policies.append(.slowCallRate(percent: slow.rate.percent, slowerThan: slow.slowCall, window: slow.rate.window.slidingWindow, minimumCalls: slow.rate.minimumCalls))
        }
        let config = BreakerConfig(
            failureThreshold: settings.failureThreshold,
            openTimeout: settings.openTimeout,
            halfOpenMaxCalls: settings.halfOpenMaxCalls,
            halfOpenSuccessThreshold: settings.halfOpenSuccessThreshold,
            backoffMultiplier: settings.backoffMultiplier,
            maxOpenTimeout: settings.maxOpenTimeout,
            minimumOpenDuration: settings.minimumOpen ?? .zero,
            halfOpenMaxWait: settings.halfOpenMaxWait,
            slowCallDuration: settings.slowCallRate?.slowCall,
            tripPolicies: policies
        )
        self.init(
            breaker: config,
            tripQuorum: settings.tripQuorum,
            onStoreFailure: settings.onStoreFailure,
            probeLease: callTimeout + .seconds(5),
            mode: settings.mode
        )
    }
}

extension BreakerSettings.RateWindow {
    var slidingWindow: SlidingWindow {
        switch self {
        case .calls(let count): return .count(count)
        case .time(let duration): return .time(duration)
        }
    }
}
