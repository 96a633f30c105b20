using CdcPipeline.Core.Translation;

namespace CdcPipeline.Core.Configuration;

/// <summary>Makes the pipeline's translator: rules from <see cref="PipelineOptions.Rules"/>, C# translators, or pass-through.</summary>
public interface ITranslatorProvider
{
    /// <param name="rulesDirectory">Absolute rules directory, or null when no rules are configured.</param>
    IChangeTranslator Create(PipelineOptions pipeline, string? rulesDirectory);
}
