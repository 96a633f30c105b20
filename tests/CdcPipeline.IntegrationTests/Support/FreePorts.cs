using System.Net;
using System.Net.Sockets;

namespace CdcPipeline.IntegrationTests.Support;

/// <summary>A loopback TCP port nobody listens on right now (the OS picks it).</summary>
public static class FreePorts
{
    public static int Next()
    {
        var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        var port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        return port;
    }
}
