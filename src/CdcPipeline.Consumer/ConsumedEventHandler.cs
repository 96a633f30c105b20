using Npgsql;

namespace CdcPipeline.Consumer;

/// <summary>
/// The consumer's work for one event, given to <see cref="IdempotentConsumer.HandleAsync(ConsumedEvent, ConsumedEventHandler, CancellationToken)"/>.
/// It must write through <paramref name="connection"/> inside <paramref name="transaction"/> (never commit or roll it back):
/// its effect commits or rolls back with the processed mark.
/// </summary>
/// <remarks>
/// Let database errors propagate: a handler that catches one and returns leaves an aborted transaction, and the event is
/// refused with <see cref="InvalidOperationException"/> (run a statement that may fail inside a savepoint instead).
/// Do not commit or roll back <paramref name="transaction"/>: the processed mark was inserted in it before the handler runs, so
/// a COMMIT by the handler commits the mark with the writes before it (a redelivery is then a duplicate) and a ROLLBACK rolls
/// both back (a redelivery runs the handler again). A handler that returns after either gets an
/// <see cref="InvalidOperationException"/> naming the event and saying which happened; statements it ran afterwards ran
/// outside the transaction, each committed on its own.
/// The handler can run more than once for one event — again within the same call after a deadlock or serialization
/// failure (up to <see cref="IdempotentConsumer.TransientFailureAttempts"/> times), and again on a redelivery of an event
/// whose transaction rolled back — so it must have no effect outside the transaction (no HTTP call, message sent or
/// in-memory state changed): only what commits with the mark happens exactly once.
/// </remarks>
/// <param name="connection">The consumer's open connection; do not close or dispose it.</param>
/// <param name="transaction">The transaction holding the processed mark; pass it to every command.</param>
/// <param name="evt">The event.</param>
/// <param name="cancellationToken">The token given to <c>HandleAsync</c>: pass it on to every call.</param>
public delegate Task ConsumedEventHandler(NpgsqlConnection connection, NpgsqlTransaction transaction, ConsumedEvent evt, CancellationToken cancellationToken);
