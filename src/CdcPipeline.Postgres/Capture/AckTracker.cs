using CdcPipeline.Core.Changes;

namespace CdcPipeline.Postgres.Capture;

/// <summary>
/// Turns acknowledged positions into the LSN the slot may confirm. Every emitted transaction (or snapshot chunk,
/// or heartbeat) registers the position of its LAST event; only when that one is acknowledged — the pipeline
/// acknowledges in order — is the unit done, and only then may its end LSN be confirmed: confirming a commit's
/// end LSN tells PostgreSQL never to send that transaction again.
/// </summary>
internal sealed class AckTracker
{
    private readonly Queue<Unit> _pending = new();
    private readonly Lock _lock = new();
    private SourcePosition? _highest;
    private ulong _flushed;

    /// <param name="Major">the position's major (commit LSN) of the unit's events</param>
    /// <param name="LastMinor">the last event's minor; negative for a unit without events (done once reached)</param>
    /// <param name="FlushLsn">what the slot may confirm once the unit is done; null for snapshot chunks</param>
    /// <param name="OnDone">e.g. persist snapshot progress</param>
    private sealed record Unit(long Major, long LastMinor, ulong? FlushLsn, Action? OnDone);

    public ulong FlushedLsn
    {
        get
        {
            lock (_lock)
            {
                return _flushed;
            }
        }
    }

    /// <summary>Registers a unit; returns a new LSN to confirm when it completed at once (a unit without events).</summary>
    public ulong? Register(long major, long lastMinor, ulong? flushLsn, Action? onDone = null)
    {
        lock (_lock)
        {
            _pending.Enqueue(new Unit(major, lastMinor, flushLsn, onDone));
            return Drain();
        }
    }

    /// <summary>Records an acknowledgement; returns the new LSN to confirm when it advanced.</summary>
    public ulong? Acknowledge(SourcePosition position)
    {
        lock (_lock)
        {
            if (_highest is null || position > _highest.Value)
            {
                _highest = position;
            }

            return Drain();
        }
    }

    private ulong? Drain()
    {
        ulong? advanced = null;
        while (_pending.TryPeek(out var unit))
        {
            var done = unit.LastMinor < 0
                || (_highest is { } h && (h.Major > unit.Major || (h.Major == unit.Major && h.Minor >= unit.LastMinor)));
            if (!done)
            {
                break;
            }

            _pending.Dequeue();
            unit.OnDone?.Invoke();
            if (unit.FlushLsn is { } lsn && lsn > _flushed)
            {
                _flushed = lsn;
                advanced = lsn;
            }
        }

        return advanced;
    }
}
