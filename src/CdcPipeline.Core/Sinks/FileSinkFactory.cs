using System.ComponentModel.DataAnnotations;
using CdcPipeline.Core.Configuration;

namespace CdcPipeline.Core.Sinks;

/// <summary><c>file: { path: out/events.jsonl, fsync: true, maxBytes: 104857600, rotate: none|hourly|daily }</c></summary>
public sealed class FileSinkFactory : ISinkFactory
{
    public string Kind => "file";

    public void Validate(PipelineComponentContext context) => _ = context.Bind<FileSinkOptions>();

    /// <summary>Two file sinks of one pipeline on one file would interleave their lines (each holds it, see <see cref="JsonLinesFileSink"/>).</summary>
    public IEnumerable<ExclusiveDirectory> ExclusiveDirectories(PipelineComponentContext context) =>
        [new("path", context.ResolvePath(context.Bind<FileSinkOptions>().Path), Written: true, "file",
            "two sinks appending to one file interleave their lines; give each sink its own path")];

    public ISink Create(PipelineComponentContext context)
    {
        var options = context.Bind<FileSinkOptions>();
        var path = context.ResolvePath(options.Path);
        try
        {
            return new JsonLinesFileSink(
                context.Name,
                path,
                options.Fsync,
                options.MaxBytes,
                options.Rotate,
                context.Services.GetService(typeof(TimeProvider)) as TimeProvider,
                context.Pipeline.Name);
        }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException && e is not StateDirectoryInUseException)
        {
            // Its directory cannot be made or written (permissions, a file where a directory should be): the path is what to fix.
            throw new ConfigurationException($"{context.Section.Path}:path", $"cannot write {path}: {e.Message}", context.Locations, e);
        }
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
