using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Threading.Channels;
using CdcPipeline.Core.Changes;
using CdcPipeline.Core.Pipeline;

namespace CdcPipeline.Tests.Support;

/// <summary>A source fed by the test; records every acknowledgement and how far it was read.</summary>
public sealed class InMemoryChangeSource : IChangeSource
{
    private readonly Channel<ChangeEvent> _changes = Channel.CreateUnbounded<ChangeEvent>();
    private int _read;

    public ConcurrentQueue<SourcePosition> Acknowledged { get; } = new();

    public int Read => Volatile.Read(ref _read);

    public void Add(ChangeEvent change) => _changes.Writer.TryWrite(change);

    public void Complete() => _changes.Writer.TryComplete();

    public async IAsyncEnumerable<ChangeEvent> ReadAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await foreach (var change in _changes.Reader.ReadAllAsync(cancellationToken))
        {
            Interlocked.Increment(ref _read);
            yield return change;
        }
    }

    public ValueTask AcknowledgeAsync(SourcePosition position, CancellationToken cancellationToken)
    {
        Acknowledged.Enqueue(position);
        return default;
    }

    /// <summary>Thrown by <see cref="DisposeAsync"/>: the final commit on the way out failed.</summary>
    public Exception? DisposeError { get; set; }

    public ValueTask DisposeAsync() => DisposeError is { } error ? ValueTask.FromException(error) : default;

    public static ChangeEvent Change(long index, string key, string status, string table = "tb_ord_mst", string stream = "slot") => new()
    {
        Kind = ChangeKind.Change,
        Operation = ChangeOperation.Update,
        Source = new SourceInfo { Schema = "public", Table = table, Lsn = index, TxId = index },
        Position = new SourcePosition(stream, index),
        Key = Row.From(("ord_no", key)),
        After = Row.From(("ord_no", key), ("ord_sts_cd", status)),
    };
}
