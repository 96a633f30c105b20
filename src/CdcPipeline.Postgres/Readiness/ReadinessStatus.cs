namespace CdcPipeline.Postgres.Readiness;

/// <summary>How a readiness finding affects capture: <see cref="Fail"/> blocks it, <see cref="Warn"/> deserves a look.</summary>
public enum ReadinessStatus
{
    Ok,
    Warn,
    Fail,
}
