using CdcPipeline.Core.Configuration;
using CdcPipeline.Core.Sinks;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace CdcPipeline.Sinks.Failures;

/// <summary>
/// Builds one configured sink by name from the pipeline configuration with the registered factories —
/// the same way <c>PipelineBuilder</c> does, without the source — so operations commands
/// (<c>failures resend</c>) deliver through exactly the sink the pipeline uses.
/// </summary>
public static class ConfiguredSinks
{
    /// <summary>The configured sinks' names, in the configuration's order (the order the pipeline fans out in).</summary>
    public static List<string> Names(PipelineConfiguration configuration) =>
        configuration.Root.GetSection("sinks").GetChildren().Select(s => s["name"]).OfType<string>().ToList();

    public static SinkBinding Create(PipelineConfiguration configuration, IServiceProvider services, string name)
    {
        var factories = services.GetServices<ISinkFactory>().ToDictionary(f => f.Kind, StringComparer.OrdinalIgnoreCase);
        var sections = configuration.Root.GetSection("sinks").GetChildren().ToList();
        foreach (var section in sections)
        {
            if (!string.Equals(section["name"], name, StringComparison.Ordinal))
            {
                continue;
            }

            // Not strict: the kind's own section sits beside the common keys.
            var common = new SinkCommonOptions();
            section.Bind(common);
            ConfigBinding.Validate(common, section.Path, configuration.Locations);
            if (!string.Equals(common.Name, name, StringComparison.Ordinal))
            {
                continue;
            }

            var kind = configuration.KindOf(section, SinkCommonOptions.Keys, factories.Keys);
            if (!factories.TryGetValue(kind, out var factory))
            {
                throw new ConfigurationException($"{section.Path}:{kind}", $"unknown sink kind '{kind}'; expected one of: {string.Join(", ", factories.Keys.Order(StringComparer.Ordinal))}", configuration.Locations);
            }

            var context = new PipelineComponentContext(common.Name, section.GetSection(kind), configuration.Options, configuration.Locations, configuration.BaseDirectory, services);
            return new SinkBinding(factory.Create(context), common.ToPolicy());
        }

        var known = string.Join(", ", Names(configuration));
        throw new ConfigurationException("sinks", $"no sink named '{name}' in {configuration.FilePath} (configured: {known})", configuration.Locations);
    }
}
