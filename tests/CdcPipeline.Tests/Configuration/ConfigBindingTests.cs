using CdcPipeline.Core.Configuration;

namespace CdcPipeline.Tests.Configuration;

/// <summary>Strict binding: a mistake is reported at the line of the key that is wrong, however deep it sits.</summary>
public sealed class ConfigBindingTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cdc-binding-").FullName;

    public sealed class Outer
    {
        public string Name { get; set; } = "";

        public Inner Inner { get; set; } = new();

        public List<Inner> Items { get; set; } = [];

        public Dictionary<string, Inner> Named { get; set; } = [];

        public Dictionary<string, string> Settings { get; set; } = [];

        public List<string> Tags { get; set; } = [];

        /// <summary>As redis' maxLength: <c>Range(1, long.MaxValue)</c> is the (double, double) constructor.</summary>
        [System.ComponentModel.DataAnnotations.Range(1, long.MaxValue)]
        public long? Limit { get; set; }
    }

    public sealed class Inner
    {
        public int Size { get; set; }

        public string? Label { get; set; }

        public Inner? Child { get; set; }
    }

    /// <summary>Binds <paramref name="yaml"/>'s <c>outer:</c> (placed under <c>source:</c>, two lines down) to <see cref="Outer"/>.</summary>
    private Outer Bind(string yaml)
    {
        var path = Path.Combine(_dir, "pipeline.yaml");
        File.WriteAllText(path, "name: t\nsource:\n" + string.Concat(yaml.Split('\n').Select(line => line.Length == 0 ? "" : "  " + line + "\n")));
        var configuration = PipelineConfiguration.Load(path, _ => null);
        return ConfigBinding.Bind<Outer>(configuration.Root.GetSection("source:outer"), configuration.Locations);
    }

    [Theory]
    [InlineData("outer:\n  nmae: a\n", "pipeline.yaml:4: source.outer.nmae: unknown key 'nmae'")]
    [InlineData("outer:\n  name: a\n  inner:\n    size: 1\n    lable: x\n", "pipeline.yaml:7: source.outer.inner.lable: unknown key 'lable'")]
    [InlineData("outer:\n  inner:\n    child:\n      size: 2\n      sise: 3\n", "pipeline.yaml:7: source.outer.inner.child.sise: unknown key 'sise'")]
    [InlineData("outer:\n  items:\n    - size: 1\n    - size: 2\n      lable: x\n", "pipeline.yaml:7: source.outer.items.1.lable: unknown key 'lable'")]
    [InlineData("outer:\n  named:\n    a:\n      size: 1\n    b:\n      lable: x\n", "pipeline.yaml:8: source.outer.named.b.lable: unknown key 'lable'")]
    // "size" is a key of Inner, not of Outer: the unknown one is the one at Outer's level.
    [InlineData("outer:\n  inner:\n    size: 1\n  size: 2\n", "pipeline.yaml:6: source.outer.size: unknown key 'size'")]
    public void An_unknown_key_is_reported_at_its_own_line(string yaml, string expected)
    {
        var error = Assert.Throws<ConfigurationException>(() => Bind(yaml));

        Assert.True(error.Message.Contains("/" + expected, StringComparison.Ordinal), error.Message);
    }

    [Fact]
    public void One_value_where_a_list_is_expected_says_how_to_write_the_list()
    {
        // It said "'public.orders' is not a valid Collections.Generic.List`1[System.String]" (tables: public.orders).
        var error = Assert.Throws<ConfigurationException>(() => Bind("outer:\n  tags: public.orders\n"));

        Assert.True(error.Message.Contains("/pipeline.yaml:4: source.outer.tags: 'public.orders' is one value where a list is expected: write [public.orders]", StringComparison.Ordinal), error.Message);
        Assert.DoesNotContain("Collections.Generic", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_range_without_its_own_message_says_what_is_allowed_at_the_key()
    {
        // DataAnnotations' default: "The field Limit must be between 1 and 9.223372036854776E+18."
        var error = Assert.Throws<ConfigurationException>(() => Bind("outer:\n  limit: 0\n"));

        Assert.True(error.Message.Contains("/pipeline.yaml:4: source.outer.limit: must be 1 or more, not 0", StringComparison.Ordinal), error.Message);
    }

    [Theory]
    // A map where a list is expected: the binder read numeric keys as indexes and other keys as nothing at all, so
    // 'tags: {0: a, 1: b}' passed as [a, b] and 'tags: {first: a}' as [a] (source.postgres.tables, a sink's types, ...).
    [InlineData("outer:\n  tags: {0: a, 1: b}\n", "pipeline.yaml:4: source.outer.tags: a map (key '0') where a list is expected", "[a, b]")]
    [InlineData("outer:\n  tags:\n    0: a\n    1: b\n", "pipeline.yaml:4: source.outer.tags: a map (key '0') where a list is expected", "'- a'")]
    [InlineData("outer:\n  tags: {first: a}\n", "pipeline.yaml:4: source.outer.tags: a map (key 'first') where a list is expected", "[a]")]
    [InlineData("outer:\n  items:\n    0: { size: 1 }\n", "pipeline.yaml:4: source.outer.items: a map (key '0') where a list is expected", "one '- ' item per entry")]
    [InlineData("outer:\n  named:\n    a:\n      child: { size: 1 }\n  items:\n    - size: 1\n    - child: { size: 2 }\n  tags: { x: y }\n", "pipeline.yaml:10: source.outer.tags: a map (key 'x')", "[y]")]
    public void A_map_where_a_list_is_expected_is_refused_at_its_key_with_how_to_write_the_list(string yaml, string expected, string detail)
    {
        var error = Assert.Throws<ConfigurationException>(() => Bind(yaml));

        Assert.True(error.Message.Contains("/" + expected, StringComparison.Ordinal), error.Message);
        Assert.True(error.Message.Contains(detail, StringComparison.Ordinal), error.Message);
    }

    [Fact]
    public void A_map_with_numeric_keys_where_a_map_is_expected_still_binds()
    {
        var bound = Bind("outer:\n  settings: {0: a, 1: b}\n  named:\n    1: { size: 3 }\n");

        Assert.Equal("b", bound.Settings["1"]);
        Assert.Equal(3, bound.Named["1"].Size);
    }

    [Fact]
    public void Free_form_settings_and_lists_of_values_take_any_key()
    {
        var bound = Bind("outer:\n  settings:\n    any.key: '1'\n  tags: [a, b]\n");

        Assert.Equal("1", bound.Settings["any.key"]);
        Assert.Equal(["a", "b"], bound.Tags);
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
