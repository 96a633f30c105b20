namespace CdcPipeline.Core.Sinks;

/// <summary>
/// A sink that can find at start, before the pipeline reads anything, a refusal of its configuration that no retry overcomes
/// (a RabbitMQ exchange that exists with another type than configured). Optional: the runner calls it once per sink that has
/// it, before the source reads; a sink without it is first tried at its first delivery.
/// </summary>
public interface ISinkStartCheck
{
    /// <summary>
    /// Throws <see cref="Configuration.ConfigurationException"/>, naming the setting, for a refusal that can never succeed as
    /// configured: the pipeline stops before reading (exit 2). A destination merely unavailable now (unreachable, down) is not
    /// that: the sink logs it and returns, and its deliveries retry as always.
    /// </summary>
    ValueTask CheckAtStartAsync(CancellationToken cancellationToken);
}
