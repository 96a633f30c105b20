using System.ComponentModel.DataAnnotations;
using CdcPipeline.Core.Configuration;

namespace CdcPipeline.Core.Sinks;

/// <summary><c>file: { path: out/events.jsonl, fsync: true }</c></summary>
public sealed class FileSinkFactory : ISinkFactory
{
    public string Kind => "file";

    public ISink Create(PipelineComponentContext context)
    {
        var options = context.Bind<FileSinkOptions>();
        return new JsonLinesFileSink(context.Name, context.ResolvePath(options.Path), options.Fsync);
    }

    public sealed class FileSinkOptions
    {
        [Required(ErrorMessage = "a file sink needs a path")]
        public string Path { get; set; } = "";

        /// <summary>fsync after every batch (positions are acknowledged after it); off trades durability across an OS crash for speed.</summary>
        public bool Fsync { get; set; } = true;
    }
}
