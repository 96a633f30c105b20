using CdcPipeline.IntegrationTests.Support;
using CdcPipeline.Postgres;

namespace CdcPipeline.IntegrationTests.Postgres;

/// <summary>A database per test, and sources on it with the test's slot, publication and a private state directory.</summary>
public abstract class PgOutputTestBase(PostgresFixture fixture) : IAsyncLifetime
{
    private readonly List<IAsyncDisposable> _owned = [];

    protected PostgresFixture Fixture { get; } = fixture;

    protected PostgresTestDatabase Db { get; private set; } = null!;

    protected string StateDirectory { get; } = Path.Combine(Path.GetTempPath(), "cdc-state-" + Guid.NewGuid().ToString("N")[..8]);

    protected TestOutputLoggerFactory Logs { get; } = new();

    protected static CancellationToken Ct => TestContext.Current.CancellationToken;

    public virtual async ValueTask InitializeAsync()
    {
        Db = await Fixture.CreateDatabaseAsync(GetType().Name.Replace("Tests", "", StringComparison.Ordinal));
    }

    protected PostgresSourceOptions Options(string[]? tables = null, SnapshotMode snapshot = SnapshotMode.Never) => new()
    {
        ConnectionString = Db.ConnectionString,
        Publication = Db.Publication,
        Slot = Db.Slot,
        Tables = tables ?? [],
        Snapshot = snapshot,
        StateDirectory = StateDirectory,
        HeartbeatInterval = TimeSpan.Zero,
        ReconnectMinDelay = TimeSpan.FromMilliseconds(100),
        ReconnectMaxDelay = TimeSpan.FromSeconds(1),
    };

    protected SourceReader Open(PostgresSourceOptions options) => Open(new PgOutputChangeSource(options, Logs));

    /// <summary>Reads a source made by the test (e.g. with a test seam set), disposed with the test.</summary>
    protected SourceReader Open(PgOutputChangeSource source)
    {
        var reader = new SourceReader(source, Ct);
        _owned.Add(reader);
        return reader;
    }

    /// <summary>Starts streaming and waits until the slot exists, so that writes after this call are captured.</summary>
    protected async Task<SourceReader> OpenStreamingAsync(PostgresSourceOptions options)
    {
        var reader = Open(options);
        // the first pull creates publication and slot; nothing is written yet, so it times out quickly
        await reader.NextAsync(TimeSpan.FromMilliseconds(50));
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (await Db.ConfirmedFlushAsync(options.Slot) == 0)
        {
            Assert.True(DateTime.UtcNow < deadline, "the source did not create its slot in time");
            await Task.Delay(20, Ct);
        }

        return reader;
    }

    public virtual async ValueTask DisposeAsync()
    {
        foreach (var owned in _owned)
        {
            await owned.DisposeAsync();
        }

        await Db.DisposeAsync();
        try
        {
            Directory.Delete(StateDirectory, recursive: true);
        }
        catch (DirectoryNotFoundException)
        {
        }
    }
}
