using Npgsql;

namespace CdcPipeline.Consumer;

/// <summary>
/// The consumer's work for one event. It must write through <paramref name="connection"/> inside
/// <paramref name="transaction"/> (never commit it): its effect commits or rolls back with the mark.
/// </summary>
public delegate Task ConsumedEventHandler(NpgsqlConnection connection, NpgsqlTransaction transaction, ConsumedEvent evt, CancellationToken cancellationToken);
