using System.ComponentModel.DataAnnotations;
using CdcPipeline.Core.Configuration;

namespace CdcPipeline.Core.Sinks;

/// <summary><c>file: { path: out/events.jsonl, fsync: true, maxBytes: 104857600, rotate: none|hourly|daily }</c></summary>
public sealed class FileSinkFactory : ISinkFactory
{
    public string Kind => "file";

    public void Validate(PipelineComponentContext context) => _ = context.Bind<FileSinkOptions>();

    public ISink Create(PipelineComponentContext context)
    {
        var options = context.Bind<FileSinkOptions>();
        return new JsonLinesFileSink(
            context.Name,
            context.ResolvePath(options.Path),
            options.Fsync,
            options.MaxBytes,
            options.Rotate,
            context.Services.GetService(typeof(TimeProvider)) as TimeProvider);
    }

    public sealed class FileSinkOptions
    {
        [Required(ErrorMessage = "a file sink needs a path")]
        public string Path { get; set; } = "";

        /// <summary>fsync after every batch (positions are acknowledged after it); off trades durability across an OS crash for speed.</summary>
        public bool Fsync { get; set; } = true;

        /// <summary>Start a new file before one would grow past this many bytes; unset = no size limit.</summary>
        [Range(1L, long.MaxValue, ErrorMessage = "must be a positive number of bytes")]
        public long? MaxBytes { get; set; }

        /// <summary><c>none</c> (default), <c>hourly</c> or <c>daily</c> (UTC).</summary>
        public FileRotation Rotate { get; set; } = FileRotation.None;
    }
}
