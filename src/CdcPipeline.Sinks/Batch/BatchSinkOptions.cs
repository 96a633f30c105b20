using System.ComponentModel.DataAnnotations;

namespace CdcPipeline.Sinks.Batch;

/// <summary>
/// <c>batch: { interval: 01:00:00, spool: out/batch/spool, archive: out/batch/archive, target: { directory: out/batch/outgoing } }</c>
/// </summary>
public sealed class BatchSinkOptions
{
    /// <summary>Interval length; it must divide a day (intervals align to midnight UTC).</summary>
    public TimeSpan Interval { get; set; } = TimeSpan.FromHours(1);

    /// <summary>
    /// Where events wait (durably) until their interval ends; relative to the configuration file. Each batch sink needs its
    /// own: two sinks on one spool directory are refused at start-up (files are named by interval start only), and a running
    /// sink holds it (lock file <c>.lock</c>, holder in <c>.lock.owner</c>) so a second process on it fails at start.
    /// </summary>
    [Required(AllowEmptyStrings = false)]
    public string Spool { get; set; } = "out/batch/spool";

    /// <summary>Closed batches kept for <c>batch resend</c>; may be shared by the pipeline's batch sinks (ids differ by sink name).</summary>
    [Required(AllowEmptyStrings = false)]
    public string Archive { get; set; } = "out/batch/archive";

    /// <summary>How often to look for ended intervals (and retry failed uploads).</summary>
    public TimeSpan CloseCheck { get; set; } = TimeSpan.FromSeconds(10);

    [Required(ErrorMessage = "a batch sink needs a target, e.g. target: {{ directory: out/batch/outgoing }}")]
    public BatchTargetOptions? Target { get; set; }
}
