using Confluent.Kafka;

namespace CdcPipeline.Kafka;

/// <summary>
/// What an operator does about a client error that retrying does not get past: a group that cannot form, a missing ACL,
/// refused credentials, a failed TLS handshake. librdkafka's reason names the failure, not the setting or the grant that
/// fixes it. The advice names setting keys only, never their values (<c>sasl.password</c>).
/// </summary>
internal static class ClientErrorAdvice
{
    private const string Sasl = ". The broker refused the client's SASL login: check sasl.mechanism, sasl.username and sasl.password "
        + "(sasl.oauthbearer.* for OAUTHBEARER) and security.protocol under the source's consumer: or the sink's producer:";

    /// <summary>
    /// The advice for <paramref name="code"/>, to follow librdkafka's reason in the logged line (it starts with its
    /// separator), or "" when there is none: a constant either way, so logging a report allocates nothing more.
    /// </summary>
    public static string For(ErrorCode code) => code switch
    {
        ErrorCode.InconsistentGroupProtocol => ". Members of this consumer group use different partition.assignment.strategy values "
            + "(eager range/roundrobin and cooperative-sticky cannot form one group): use one source.kafka.consumer.partition.assignment.strategy "
            + "across the group",
        ErrorCode.GroupAuthorizationFailed => ". The client's principal lacks an ACL: it needs READ on the consumer group (group.id) "
            + "to join it and commit offsets",
        ErrorCode.TopicAuthorizationFailed => ". The client's principal lacks an ACL: it needs READ and DESCRIBE on the topic to read it (source), "
            + "WRITE and DESCRIBE to write it (sink, dead letters); or the topic name is wrong",
        ErrorCode.TransactionalIdAuthorizationFailed => ". The producer's principal lacks an ACL: a transactional producer (exactly-once) "
            + "needs WRITE and DESCRIBE on its transactional.id",
        ErrorCode.ClusterAuthorizationFailed => ". The client's principal lacks an ACL on the cluster: an idempotent producer (enable.idempotence, "
            + "exactly-once) needs IDEMPOTENT_WRITE on the cluster (on brokers before Kafka 2.8; later ones grant it with WRITE on a topic)",
        ErrorCode.SaslAuthenticationFailed or ErrorCode.Local_Authentication => Sasl,
        ErrorCode.Local_Ssl => ". TLS with the broker failed: check ssl.ca.location (the CA that signed the broker's certificate), "
            + "ssl.certificate.location and ssl.key.location when the broker wants a client certificate, security.protocol, "
            + "and that the bootstrap servers name the TLS listener",
        _ => "",
    };
}
