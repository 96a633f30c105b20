using CdcPipeline.Core.Changes;

namespace CdcPipeline.Tests.Changes;

public class SourcePositionTests
{
    /// <summary>A Kafka position's stream name is kept from one record to the next while the partition stays the same.</summary>
    [Fact]
    public async Task Kafka_positions_name_their_own_topic_and_partition_however_records_interleave()
    {
        (string Topic, int Partition, long Offset)[] records =
        [
            ("a.public.t", 0, 5), ("a.public.t", 0, 6), ("a.public.t", 1, 6), ("a.public.t", 10, 7), ("a.public.t1", 0, 8),
            ("a.public.t", 0, 9), ("b.public.t", 0, 1), ("a.public.t", 0, 10),
        ];
        foreach (var (topic, partition, offset) in records)
        {
            var position = SourcePosition.ForKafka(topic, partition, offset);
            Assert.Equal($"{topic}/{partition}", position.Stream);
            Assert.Equal(offset, position.Major);
            Assert.Equal($"{topic}/{partition}@{offset}:0", position.ToString());
        }

        var fromOtherThread = await Task.Run(() => SourcePosition.ForKafka("c.public.t", 3, 1), TestContext.Current.CancellationToken);
        Assert.Equal("c.public.t/3", fromOtherThread.Stream);
        Assert.Equal("a.public.t/0", SourcePosition.ForKafka("a.public.t", 0, 11).Stream);
    }
}
