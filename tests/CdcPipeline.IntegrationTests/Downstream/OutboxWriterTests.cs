using CdcPipeline.Consumer.Outbox;
using CdcPipeline.IntegrationTests.Support;
using Npgsql;

namespace CdcPipeline.IntegrationTests.Downstream;

/// <summary>What a service meets when it writes its outbox with <see cref="OutboxWriter"/>, against a real PostgreSQL.</summary>
public sealed class OutboxWriterTests(PostgresFixture fixture) : IAsyncLifetime
{
    private PostgresTestDatabase _db = null!;
    private NpgsqlDataSource _dataSource = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        _db = await fixture.CreateDatabaseAsync("outboxwriter");
        _dataSource = NpgsqlDataSource.Create(_db.ConnectionString);
    }

    public async ValueTask DisposeAsync()
    {
        await _dataSource.DisposeAsync();
        await _db.DisposeAsync();
    }

    [Fact]
    public async Task Ensuring_the_schema_while_another_instance_creates_it_succeeds()
    {
        var writer = new OutboxWriter();

        // Another instance of the service, starting at the same moment, has created the table but not committed yet.
        await using var other = await _dataSource.OpenConnectionAsync(Ct);
        await using var otherTx = await other.BeginTransactionAsync(Ct);
        await using (var create = new NpgsqlCommand(OutboxWriter.SchemaSql(), other, otherTx))
        {
            await create.ExecuteNonQueryAsync(Ct);
        }

        await using var connection = await _dataSource.OpenConnectionAsync(Ct);
        var ensure = writer.EnsureSchemaAsync(connection, Ct);
        Assert.True(await WaitForLockWaitAsync(), "EnsureSchemaAsync did not wait on the other instance's uncommitted table");
        await otherTx.CommitAsync(Ct);
        await ensure.WaitAsync(TimeSpan.FromSeconds(30), Ct);

        await using var tx = await connection.BeginTransactionAsync(Ct);
        await writer.AddAsync(connection, tx, "Order", "1", "OrderPlaced", new { orderId = 1 }, Ct);
        await tx.CommitAsync(Ct);
        Assert.Equal(1L, await _db.ScalarAsync<long>("SELECT count(*) FROM outbox"));
    }

    [Fact]
    public async Task A_payload_that_is_not_json_is_refused_naming_the_message()
    {
        var writer = new OutboxWriter();
        await using var connection = await _dataSource.OpenConnectionAsync(Ct);
        await writer.EnsureSchemaAsync(connection, Ct);
        await using var tx = await connection.BeginTransactionAsync(Ct);
        var message = new OutboxMessage { AggregateType = "Order", AggregateId = "1001", Type = "OrderPlaced", PayloadJson = "{orderId: 1001}" };

        var e = await Assert.ThrowsAsync<ArgumentException>(() => writer.AddAsync(connection, tx, message, Ct));

        Assert.Contains(message.Id.ToString(), e.Message, StringComparison.Ordinal);
        Assert.Contains("OrderPlaced", e.Message, StringComparison.Ordinal);
        Assert.Contains("PayloadJson", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("public.outbox")]
    [InlineData("Outbox")]
    [InlineData("PUBLIC.OUTBOX")]
    public async Task Writers_spelling_one_table_differently_serialise_their_commits(string spelling)
    {
        var writer = new OutboxWriter();
        await using (var setup = await _dataSource.OpenConnectionAsync(Ct))
        {
            await writer.EnsureSchemaAsync(setup, Ct);
        }

        // The first writer has drawn its seq and not committed yet.
        await using var first = await _dataSource.OpenConnectionAsync(Ct);
        await using var firstTx = await first.BeginTransactionAsync(Ct);
        await writer.AddAsync(first, firstTx, "Order", "1", "OrderPlaced", new { orderId = 1 }, Ct);

        // A writer of the same table, spelled otherwise, must queue behind it until it commits: otherwise its later seq can commit first.
        await using var second = await _dataSource.OpenConnectionAsync(Ct);
        await using var secondTx = await second.BeginTransactionAsync(Ct);
        var adding = new OutboxWriter(spelling).AddAsync(second, secondTx, "Order", "2", "OrderPlaced", new { orderId = 2 }, Ct);
        Assert.True(await WaitForLockWaitAsync(), $"a writer of '{spelling}' did not wait for the uncommitted writer of 'outbox': their commits are not serialised");
        await firstTx.CommitAsync(Ct);
        await adding.WaitAsync(TimeSpan.FromSeconds(30), Ct);
        await secondTx.CommitAsync(Ct);
        Assert.Equal(2L, await _db.ScalarAsync<long>("SELECT count(*) FROM outbox"));
    }

    /// <summary>
    /// The lock key writers used before they keyed it by the table's oid, for <c>new OutboxWriter()</c>: pinned here, not taken
    /// from the library, so that a change to how the library computes it cannot go unnoticed.
    /// </summary>
    private const long SpelledLockKeyOfOutbox = 5683556225908224837;

    [Fact]
    public async Task A_writer_of_an_earlier_version_and_a_new_writer_of_the_same_spelling_serialise_their_commits()
    {
        // Computed as the earlier versions' OutboxWriter.LockKey did.
        Assert.Equal(SpelledLockKeyOfOutbox, BitConverter.ToInt64(System.Security.Cryptography.SHA256.HashData("cdcpipeline.outbox.writer:outbox"u8)[..8]));
        var writer = new OutboxWriter();
        await using (var setup = await _dataSource.OpenConnectionAsync(Ct))
        {
            await writer.EnsureSchemaAsync(setup, Ct);
        }

        // An old writer (a service instance not upgraded yet) has taken its lock, drawn its seq and not committed yet.
        await using var old = await _dataSource.OpenConnectionAsync(Ct);
        await using var oldTx = await old.BeginTransactionAsync(Ct);
        await using (var oldLock = new NpgsqlCommand($"SELECT pg_advisory_xact_lock({SpelledLockKeyOfOutbox})", old, oldTx))
        {
            await oldLock.ExecuteNonQueryAsync(Ct);
        }

        await using var upgraded = await _dataSource.OpenConnectionAsync(Ct);
        await using var upgradedTx = await upgraded.BeginTransactionAsync(Ct);
        var adding = writer.AddAsync(upgraded, upgradedTx, "Order", "2", "OrderPlaced", new { orderId = 2 }, Ct);
        Assert.True(await WaitForLockWaitAsync(), "a new writer of 'outbox' did not wait for the uncommitted writer of an earlier version: their commits are not serialised");
        await oldTx.CommitAsync(Ct);
        await adding.WaitAsync(TimeSpan.FromSeconds(30), Ct);

        // And the other way round: while the new writer's transaction is open, an old writer cannot take its lock.
        await using (var oldLock = new NpgsqlCommand($"SELECT pg_try_advisory_xact_lock({SpelledLockKeyOfOutbox})", old))
        {
            Assert.False((bool)(await oldLock.ExecuteScalarAsync(Ct))!, "an old writer of 'outbox' got its lock while a new writer's transaction was open");
        }

        await upgradedTx.CommitAsync(Ct);
    }

    [Fact]
    public async Task Writers_of_different_tables_do_not_wait_for_each_other()
    {
        var writer = new OutboxWriter();
        var other = new OutboxWriter("other_outbox");
        await using var first = await _dataSource.OpenConnectionAsync(Ct);
        await writer.EnsureSchemaAsync(first, Ct);
        await other.EnsureSchemaAsync(first, Ct);
        await using var firstTx = await first.BeginTransactionAsync(Ct);
        await writer.AddAsync(first, firstTx, "Order", "1", "OrderPlaced", new { orderId = 1 }, Ct);

        await using var second = await _dataSource.OpenConnectionAsync(Ct);
        await using var secondTx = await second.BeginTransactionAsync(Ct);
        await other.AddAsync(second, secondTx, "Order", "2", "OrderPlaced", new { orderId = 2 }, Ct).WaitAsync(TimeSpan.FromSeconds(30), Ct);
        await secondTx.CommitAsync(Ct);
        await firstTx.CommitAsync(Ct);
    }

    [Theory]
    [InlineData("order")]
    [InlineData("public.user")]
    [InlineData("Order")]
    public async Task A_table_named_by_a_reserved_word_is_created_and_written(string table)
    {
        var writer = new OutboxWriter(table);
        await using var connection = await _dataSource.OpenConnectionAsync(Ct);
        await writer.EnsureSchemaAsync(connection, Ct);
        await using var tx = await connection.BeginTransactionAsync(Ct);
        await writer.AddAsync(connection, tx, "Order", "1", "OrderPlaced", new { orderId = 1 }, Ct);
        await tx.CommitAsync(Ct);

        // Named as PostgreSQL reads the name unquoted: folded to lower case.
        var bare = table[(table.IndexOf('.', StringComparison.Ordinal) + 1)..].ToLowerInvariant();
        Assert.Equal(1L, await _db.ScalarAsync<long>($"SELECT count(*) FROM public.\"{bare}\" WHERE status = 'pending'"));
        Assert.Equal(1L, await _db.ScalarAsync<long>($"SELECT count(*) FROM pg_indexes WHERE schemaname = 'public' AND indexname = '{bare}_pending_seq'"));
    }

    private async Task<bool> WaitForLockWaitAsync()
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (DateTime.UtcNow < deadline)
        {
            if (await _db.ScalarAsync<long>($"SELECT count(*) FROM pg_stat_activity WHERE datname = '{_db.Name}' AND wait_event_type = 'Lock'") > 0)
            {
                return true;
            }

            await Task.Delay(20, Ct);
        }

        return false;
    }
}
