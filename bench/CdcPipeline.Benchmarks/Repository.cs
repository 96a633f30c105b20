namespace CdcPipeline.Benchmarks;

internal static class Repository
{
    /// <summary>The repository root (where CdcPipeline.sln is), found upwards from the benchmark's binaries.</summary>
    public static string Root()
    {
        var dir = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(dir, "CdcPipeline.sln")))
        {
            dir = Path.GetDirectoryName(dir) ?? throw new InvalidOperationException("run the benchmarks from inside the repository");
        }

        return dir;
    }
}
