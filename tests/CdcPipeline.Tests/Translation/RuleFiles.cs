using CdcPipeline.Core.Translation.Rules;

namespace CdcPipeline.Tests.Translation;

/// <summary>Rule files written to a temporary directory, loaded the way the pipeline loads them.</summary>
internal sealed class RuleFiles : IDisposable
{
    private readonly DirectoryInfo _dir = System.IO.Directory.CreateTempSubdirectory("cdc-rules-");

    public string Directory => _dir.FullName;

    public string Write(string name, string yaml)
    {
        var path = Path.Combine(_dir.FullName, name);
        File.WriteAllText(path, yaml);
        return path;
    }

    public RuleSet Load() => RuleSet.LoadDirectory(_dir.FullName);

    public RuleLoadException LoadFails() => Assert.Throws<RuleLoadException>(Load);

    public static RuleTranslator Translator(string yaml, string file = "orders.yaml") =>
        RuleSet.Parse(file, yaml).CreateTranslator("legacy-orders");

    public void Dispose() => _dir.Delete(recursive: true);
}
