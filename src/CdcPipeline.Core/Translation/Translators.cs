using CdcPipeline.Core.Translation.Rules;

namespace CdcPipeline.Core.Translation;

/// <summary>The translator a pipeline (or the <c>translate</c> command) runs with, from its configuration.</summary>
public static class Translators
{
    /// <summary>
    /// With a rules directory: its rule files (throws <see cref="RuleLoadException"/> listing every problem),
    /// followed by any C# translators registered per table. Without one: raw changes pass through.
    /// </summary>
    public static IChangeTranslator Create(string? rulesDirectory, string pipelineName, params (string Table, IChangeTranslator Translator)[] codeTranslators)
    {
        if (rulesDirectory is null && codeTranslators.Length == 0)
        {
            return new PassthroughTranslator(pipelineName);
        }

        var composite = new CompositeTranslator();
        if (rulesDirectory is not null)
        {
            composite.Add(RuleSet.LoadDirectory(rulesDirectory).CreateTranslator(pipelineName));
        }

        foreach (var (table, translator) in codeTranslators)
        {
            composite.Add(table, translator);
        }

        return composite;
    }

    /// <summary>The rule files wherever they sit in <paramref name="translator"/> (beside C# translators, behind the outbox).</summary>
    public static IEnumerable<Rules.TableRules> RuleFiles(IChangeTranslator translator) => translator switch
    {
        Rules.RuleTranslator rules => rules.Rules.Files,
        CompositeTranslator composite => composite.Translators.SelectMany(RuleFiles),
        Outbox.OutboxRoutingTranslator outbox => RuleFiles(outbox.Others),
        _ => [],
    };
}
