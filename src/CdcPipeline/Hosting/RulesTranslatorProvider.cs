using CdcPipeline.Core.Configuration;
using CdcPipeline.Core.Translation;
using CdcPipeline.Core.Translation.Rules;

namespace CdcPipeline.Hosting;

/// <summary>Rules from the configured directory (every problem reported at start-up), else pass-through.</summary>
internal sealed class RulesTranslatorProvider : ITranslatorProvider
{
    public IChangeTranslator Create(PipelineOptions pipeline, string? rulesDirectory)
    {
        try
        {
            return Translators.Create(rulesDirectory, pipeline.Name);
        }
        catch (RuleLoadException e)
        {
            throw new ConfigurationException("rules", e.Message, inner: e);
        }
    }
}
