using CdcPipeline.Core.Configuration;

namespace CdcPipeline.Commands;

/// <summary>Loading <c>--config</c> for an operator command: the configuration, or null after saying what is wrong with the file.</summary>
internal static class ConfigFile
{
    public static PipelineConfiguration? TryLoad(FileInfo file, TextWriter error)
    {
        try
        {
            return PipelineConfiguration.Load(file.FullName);
        }
        catch (ConfigurationException e)
        {
            error.WriteLine(e.Message);
            return null;
        }
        catch (IOException e)
        {
            error.WriteLine($"cannot read {file.FullName}: {e.Message}");
            return null;
        }
    }
}
