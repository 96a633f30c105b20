using CdcPipeline.Core.Translation;

namespace CdcPipeline.Core.Sinks;

/// <summary>
/// Where the <see cref="FailurePolicy.Log"/> policy records failed deliveries (a PostgreSQL table with
/// id, type, payload, created_at, status, attempts, last_error) for <c>failures list</c> / <c>failures resend</c>.
/// </summary>
public interface IFailureStore
{
    ValueTask RecordAsync(string sinkName, DomainEvent domainEvent, Exception error, int attempts, CancellationToken cancellationToken);
}
