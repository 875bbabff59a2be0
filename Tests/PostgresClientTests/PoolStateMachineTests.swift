@testable import PostgresClient
import Testing

/// The pool's bookkeeping on its own, with integers standing in for connections.
@Suite struct PoolStateMachineTests {
    typealias Machine = PoolStateMachine<Int>

    @Test func opensUpToMaxConnectionsThenQueues() {
        var machine = Machine(maxConnections: 2)
        let first = machine.acquire()
        let second = machine.acquire()
        let third = machine.acquire()
        #expect(isOpenNew(first))
        #expect(isOpenNew(second))
        #expect(waiterID(third) == 0)
        #expect(machine.open == 2)
        #expect(machine.waiters == [0])
    }

    @Test func releasedConnectionGoesToTheFirstWaiterInLine() {
        var machine = Machine(maxConnections: 1)
        let acquired = machine.acquire()
        #expect(isOpenNew(acquired))
        let opened = machine.opened()
        #expect(opened)
        let first = waiterID(machine.acquire())
        let second = waiterID(machine.acquire())
        let action = machine.released(100, reusable: true)
        #expect(action.wake?.id == first)
        #expect(connection(action.wake?.lease) == 100)
        #expect(machine.waiters == [second!])
        #expect(machine.leased == 1)
        #expect(machine.idle.isEmpty)
    }

    @Test func idleConnectionIsReusedBeforeOpeningAnother() {
        var machine = Machine(maxConnections: 3)
        _ = machine.acquire()
        _ = machine.opened()
        _ = machine.released(7, reusable: true)
        #expect(machine.idle == [7])
        guard case .lease(.connection(let reused)) = machine.acquire() else {
            Issue.record("expected the idle connection")
            return
        }
        #expect(reused == 7)
        #expect(machine.open == 1)
    }

    @Test func newcomerDoesNotOvertakeWaiters() {
        var machine = Machine(maxConnections: 1)
        _ = machine.acquire()
        _ = machine.opened()
        let waiter = waiterID(machine.acquire())
        // The waiter gave up, then the connection came back idle; a newcomer takes it.
        let cancelled = machine.cancelWaiter(id: waiter!)
        #expect(cancelled)
        _ = machine.released(1, reusable: true)
        guard case .lease(.connection(1)) = machine.acquire() else {
            Issue.record("expected the idle connection")
            return
        }
    }

    @Test func brokenConnectionIsClosedAndItsSlotGoesToAWaiter() {
        var machine = Machine(maxConnections: 1)
        _ = machine.acquire()
        _ = machine.opened()
        let waiter = waiterID(machine.acquire())
        let action = machine.released(1, reusable: false)
        #expect(action.close == 1)
        #expect(action.wake?.id == waiter)
        #expect(isOpenNew(action.wake?.lease))
        #expect(machine.opening == 1)
        #expect(machine.idle.isEmpty)
    }

    @Test func failedOpenPassesTheSlotOn() {
        var machine = Machine(maxConnections: 1)
        _ = machine.acquire()
        let waiter = waiterID(machine.acquire())
        let action = machine.openFailed()
        #expect(action.wake?.id == waiter)
        #expect(isOpenNew(action.wake?.lease))
        let last = machine.openFailed()
        #expect(last.wake == nil)
        #expect(machine.open == 0)
    }

    @Test func cancelledWaiterIsRemovedOnlyOnce() {
        var machine = Machine(maxConnections: 1)
        _ = machine.acquire()
        let waiter = waiterID(machine.acquire())!
        let first = machine.cancelWaiter(id: waiter)
        let second = machine.cancelWaiter(id: waiter)
        #expect(first)
        #expect(!second)
        let release = machine.released(1, reusable: true)
        #expect(release.wake == nil)
    }

    @Test func closeFailsWaitersClosesIdleAndFinishesWhenLeasesReturn() {
        var machine = Machine(maxConnections: 2)
        _ = machine.acquire()
        _ = machine.opened()
        _ = machine.acquire()
        _ = machine.opened()
        _ = machine.released(1, reusable: true)
        _ = machine.acquire()  // takes 1 again
        let waiter = waiterID(machine.acquire())
        _ = machine.released(1, reusable: true)  // straight to the waiter
        _ = waiter
        let extra = waiterID(machine.acquire())!

        let close = machine.close()
        #expect(close.failWaiters == [extra])
        #expect(close.close.isEmpty)
        #expect(!close.closeFinished)
        guard case .failClosed = machine.acquire() else {
            Issue.record("a closed pool must refuse")
            return
        }
        let first = machine.released(1, reusable: true)
        #expect(first.close == 1)
        #expect(!first.closeFinished)
        let second = machine.released(2, reusable: true)
        #expect(second.close == 2)
        #expect(second.closeFinished)
    }

    @Test func closeWithOnlyIdleConnectionsFinishesAtOnce() {
        var machine = Machine(maxConnections: 2)
        _ = machine.acquire()
        _ = machine.opened()
        _ = machine.released(5, reusable: true)
        let close = machine.close()
        #expect(close.close == [5])
        #expect(close.closeFinished)
    }

    @Test func connectionOpenedAfterCloseIsRefused() {
        var machine = Machine(maxConnections: 1)
        _ = machine.acquire()
        let close = machine.close()
        #expect(!close.closeFinished)
        let opened = machine.opened()
        #expect(!opened)
        let action = machine.released(9, reusable: true)
        #expect(action.close == 9)
        #expect(action.closeFinished)
    }

    // MARK: - Helpers

    private func isOpenNew(_ action: Machine.AcquireAction) -> Bool {
        if case .lease(.openNew) = action { return true }
        return false
    }

    private func isOpenNew(_ lease: Machine.Lease?) -> Bool {
        if case .openNew? = lease { return true }
        return false
    }

    private func waiterID(_ action: Machine.AcquireAction) -> Int? {
        if case .wait(let id) = action { return id }
        return nil
    }

    private func connection(_ lease: Machine.Lease?) -> Int? {
        if case .connection(let connection)? = lease { return connection }
        return nil
    }
}
