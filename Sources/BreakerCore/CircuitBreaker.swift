import Synchronization

/// An in-process circuit breaker: a ``BreakerMachine`` behind a `Mutex`, a clock, an
/// outcome classifier and transition observers.
///
/// ```swift
/// let breaker = try CircuitBreaker(name: "moralis")
/// let body = try await breaker.run(timeout: .seconds(10)) { try await fetch() }
/// ```
///
/// Admission and recording each take the lock once for a few nanoseconds; the lock is
/// never held while the protected call runs or while observers are called.
public final class CircuitBreaker: Sendable {
    /// A transition observer (for logs and metrics).
    public typealias Observer = @Sendable (Transition) -> Void

    /// An admitted call, to be handed back to ``record(_:for:)`` exactly once.
    public struct Ticket: Sendable {
        /// The half-open probe permit, if the call is a probe.
        public let permit: ProbePermit?
        /// When the call was admitted (by the breaker's clock).
        public let start: BreakerInstant
    }

    /// The breaker's name (used in errors and status).
    public let name: String
    /// The validated configuration.
    public let config: BreakerConfig
    /// The clock used for admission, durations and time-driven transitions.
    public let clock: any BreakerClock
    /// Classifies errors thrown by protected calls.
    public let classifier: OutcomeClassifier

    private let machine: Mutex<BreakerMachine>
    private let observers: Mutex<[Observer]>

    /// Creates a closed breaker.
    ///
    /// - Parameters:
    ///   - name: The breaker's name.
    ///   - config: The policy (validated here).
    ///   - clock: The time source (default: ``ContinuousBreakerClock``).
    ///   - classifier: Maps thrown errors to outcomes (default: ``OutcomeClassifier/default``).
    ///   - onTransition: Observers called once per transition, outside the lock. They may
    ///     run concurrently from different tasks; order them by ``Transition/version``.
    /// - Throws: ``BreakerConfigError`` listing every invalid field.
    public init(
        name: String,
        config: BreakerConfig = BreakerConfig(),
        clock: any BreakerClock = ContinuousBreakerClock(),
        classifier: OutcomeClassifier = .default,
        onTransition: [Observer] = []
    ) throws(BreakerConfigError) {
        self.name = name
        self.config = config
        self.clock = clock
        self.classifier = classifier
        self.machine = Mutex(try BreakerMachine(config: config))
        self.observers = Mutex(onTransition)
    }

    /// Adds a transition observer.
    ///
    /// - Parameter observer: Called once per later transition, outside the lock.
    public func addObserver(_ observer: @escaping Observer) {
        observers.withLock { $0.append(observer) }
    }

    // MARK: - Reading

    /// The current state (without applying due time-driven transitions).
    public var state: BreakerState {
        machine.withLock { $0.state }
    }

    /// A snapshot in the `/breakers` shape, after applying any due time-driven transition.
    ///
    /// - Returns: The status at the clock's current time.
    public func status() -> BreakerStatus {
        let now = clock.now()
        let (status, transition) = machine.withLock { m -> (BreakerStatus, Transition?) in
            let t = m.advance(to: now)
            return (m.status(name: name, at: now), t)
        }
        notify(transition)
        return status
    }

    // MARK: - Calls

    /// Runs `operation` through the breaker: checks admission, applies the optional
    /// timeout, records the outcome with its duration and rethrows any error.
    ///
    /// A normal return is a success; a thrown error is classified by ``classifier``
    /// (by default `CancellationError` is ignored, anything else is a failure).
    ///
    /// - Parameters:
    ///   - timeout: Optional limit; when exceeded the operation's task is cancelled and
    ///     ``CallTimeoutError`` is thrown (after the operation has returned, as with any
    ///     structured child task). Measured with `ContinuousClock`.
    ///   - operation: The protected call.
    /// - Returns: The operation's result.
    /// - Throws: ``CircuitOpenError`` when rejected (the operation does not run),
    ///   ``CallTimeoutError`` on timeout, or whatever `operation` throws.
    public func run<T: Sendable>(
        timeout: Duration? = nil,
        _ operation: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        let ticket = try acquire()
        do {
            let value: T
            if let timeout {
                value = try await withCallTimeout(timeout, name: name, operation)
            } else {
                value = try await operation()
            }
            record(.success, for: ticket)
            return value
        } catch {
            record(classifier(error), for: ticket)
            throw error
        }
    }

    /// Asks for admission without running anything; pair with ``record(_:for:)``.
    ///
    /// - Returns: A ticket for the admitted call.
    /// - Throws: ``CircuitOpenError`` when the call is rejected.
    public func acquire() throws(CircuitOpenError) -> Ticket {
        let now = clock.now()
        var transition: Transition?
        let (admission, state) = machine.withLock { m in
            (m.admit(at: now, transition: &transition), m.state)
        }
        notify(transition)
        switch admission {
        case .allowed(let permit):
            return Ticket(permit: permit, start: now)
        case .rejected(let retryAfter):
            throw CircuitOpenError(name: name, state: state, retryAfter: retryAfter)
        }
    }

    /// Records the outcome of a call admitted by ``acquire()``; its duration is measured
    /// from the ticket's start.
    ///
    /// - Parameters:
    ///   - outcome: How the call counts.
    ///   - ticket: The ticket from ``acquire()``.
    public func record(_ outcome: CallOutcome, for ticket: Ticket) {
        let now = clock.now()
        let transition = machine.withLock {
            $0.record(outcome, duration: now - ticket.start, permit: ticket.permit, at: now)
        }
        notify(transition)
    }

    // MARK: - Manual control

    /// Forces the breaker open until ``reset()``.
    ///
    /// - Returns: The transition (always non-`nil`).
    @discardableResult
    public func forceOpen() -> Transition? {
        manual { $0.forceOpen(at: $1) }
    }

    /// Forces the breaker closed until ``reset()``.
    ///
    /// - Returns: The transition (always non-`nil`).
    @discardableResult
    public func forceClose() -> Transition? {
        manual { $0.forceClose(at: $1) }
    }

    /// Resets to closed, clearing overrides and counters (statistics are kept).
    ///
    /// - Returns: The transition (always non-`nil`).
    @discardableResult
    public func reset() -> Transition? {
        manual { $0.reset(at: $1) }
    }

    /// Applies a due time-driven transition (open → half-open, half-open max wait) now;
    /// useful for a periodic ticker that wants timely events without traffic.
    ///
    /// - Returns: The transition, if one was due.
    @discardableResult
    public func advance() -> Transition? {
        manual { $0.advance(to: $1) }
    }

    // MARK: - Private

    private func manual(_ action: (inout BreakerMachine, BreakerInstant) -> Transition?) -> Transition? {
        let now = clock.now()
        let transition = machine.withLock { action(&$0, now) }
        notify(transition)
        return transition
    }

    private func notify(_ transition: Transition?) {
        guard let transition else { return }
        for observer in observers.withLock({ $0 }) {
            observer(transition)
        }
    }
}
