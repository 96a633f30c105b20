namespace CdcPipeline.Core.Sinks;

/// <summary>
/// The failure store (<c>failures:</c>) could not record a failed delivery of sink <see cref="Sink"/>, so the pipeline stops:
/// the event can be neither recorded nor skipped. The inner exception is the store's own error; wrapping it keeps the
/// stop's message from being taken for the source's (both may be PostgreSQL errors).
/// </summary>
public sealed class FailureStoreException(string sink, Exception inner)
    : Exception($"the failure store could not record a failed delivery of sink '{sink}': {inner.Message}", inner)
{
    public string Sink { get; } = sink;
}
