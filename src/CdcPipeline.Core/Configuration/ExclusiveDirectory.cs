namespace CdcPipeline.Core.Configuration;

/// <summary>
/// A directory a sink keeps state in that no other sink of the pipeline may use for the same purpose (a batch sink's
/// spool). <see cref="ISinkFactory.ExclusiveDirectories"/> names them; <see cref="Check"/> refuses a configuration in
/// which two sinks resolve to the same one, before any sink is created.
/// </summary>
/// <param name="Key">The key under the sink's kind section, e.g. <c>spool</c>.</param>
/// <param name="Path">The directory, resolved (relative paths are relative to the configuration file).</param>
/// <param name="Written">Whether the key is in the configuration; false: <paramref name="Path"/> is the default.</param>
/// <param name="Purpose">What the directory is for, e.g. <c>spool directory</c>.</param>
/// <param name="Consequence">What sharing it would do and what to do instead, in a sentence or two.</param>
public sealed record ExclusiveDirectory(string Key, string Path, bool Written, string Purpose, string Consequence)
{
    /// <summary>Directory names compare as the file system usually does: case-sensitively except on Windows and macOS.</summary>
    private static readonly StringComparer PathComparer =
        OperatingSystem.IsWindows() || OperatingSystem.IsMacOS() ? StringComparer.OrdinalIgnoreCase : StringComparer.Ordinal;

    /// <summary>
    /// Throws a <see cref="ConfigurationException"/> at the later sink's key when two of <paramref name="sinks"/> claim the
    /// same directory for the same purpose, naming both sinks, the directory and the first sink's key and line.
    /// </summary>
    public static void Check(IEnumerable<(string Sink, ISinkFactory Factory, PipelineComponentContext Context)> sinks, ConfigurationLocations locations)
    {
        var claimed = new Dictionary<(string Purpose, string Path), (string Sink, string Key)>(new ClaimComparer());
        foreach (var (sink, factory, context) in sinks)
        {
            foreach (var directory in factory.ExclusiveDirectories(context))
            {
                var key = $"{context.Section.Path}:{directory.Key}";
                var path = System.IO.Path.TrimEndingDirectorySeparator(System.IO.Path.GetFullPath(directory.Path));
                if (claimed.TryGetValue((directory.Purpose, path), out var first))
                {
                    var where = locations.Describe(first.Key) is { } location ? ", " + location : "";
                    throw new ConfigurationException(
                        key,
                        $"sink '{sink}' would use {path}{(directory.Written ? "" : " (the default)")} as its {directory.Purpose}, which is already the "
                            + $"{directory.Purpose} of sink '{first.Sink}' ({first.Key.Replace(':', '.')}{where}): {directory.Consequence}",
                        locations);
                }

                claimed.Add((directory.Purpose, path), (sink, key));
            }
        }
    }

    private sealed class ClaimComparer : IEqualityComparer<(string Purpose, string Path)>
    {
        public bool Equals((string Purpose, string Path) x, (string Purpose, string Path) y) =>
            string.Equals(x.Purpose, y.Purpose, StringComparison.Ordinal) && PathComparer.Equals(x.Path, y.Path);

        public int GetHashCode((string Purpose, string Path) obj) => HashCode.Combine(StringComparer.Ordinal.GetHashCode(obj.Purpose), PathComparer.GetHashCode(obj.Path));
    }
}
