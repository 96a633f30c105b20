using System.ComponentModel.DataAnnotations;

namespace CdcPipeline.Sinks.Batch;

/// <summary>The batch target; <c>directory</c> is the one kind so far (SFTP would sit beside it).</summary>
public sealed class BatchTargetOptions
{
    [Required(ErrorMessage = "a batch target needs a directory")]
    public string Directory { get; set; } = "";
}
