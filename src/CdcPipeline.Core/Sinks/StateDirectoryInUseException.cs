namespace CdcPipeline.Core.Sinks;

/// <summary>
/// A sink could not start because another process (or another sink of this one) holds the directory it keeps its state in
/// (a batch sink's spool), or the file it writes (a file sink's): two holders would mix and delete each other's data, or
/// interleave their lines. The message is one line naming the directory or file, the holder and what to do; <c>run</c>
/// prints it and exits 1.
/// </summary>
public sealed class StateDirectoryInUseException : IOException
{
    public StateDirectoryInUseException(string message, string sink, string directory, string holder, Exception? inner = null, string what = "spool directory")
        : base(message, inner)
    {
        Sink = sink;
        Directory = directory;
        Holder = holder;
        What = what;
    }

    /// <summary>What <see cref="Directory"/> is to the sink, as messages name it: <c>spool directory</c>, <c>file</c>.</summary>
    public string What { get; }

    /// <summary>The sink that could not start.</summary>
    public string Sink { get; }

    /// <summary>The directory (or file), full path.</summary>
    public string Directory { get; }

    /// <summary>Who holds it, e.g. <c>pid 4242 on host db1, since 2026-12-06T18:52:20Z</c>, as far as its owner file says.</summary>
    public string Holder { get; }
}
