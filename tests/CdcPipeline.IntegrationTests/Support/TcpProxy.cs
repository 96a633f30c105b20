using System.Net;
using System.Net.Sockets;

namespace CdcPipeline.IntegrationTests.Support;

/// <summary>
/// A TCP forwarder in front of a real server that a test can cut (every connection dropped, new ones
/// refused) and restore: a server outage without stopping the shared server other tests use.
/// </summary>
public sealed class TcpProxy : IAsyncDisposable
{
    private readonly string _targetHost;
    private readonly int _targetPort;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<TcpClient> _connections = [];
    private TcpListener? _listener;
    private Task? _accepting;
    private volatile bool _holding;

    public TcpProxy(string targetHost, int targetPort)
    {
        _targetHost = targetHost;
        _targetPort = targetPort;
        Port = FreePorts.Next();
        Start();
    }

    public int Port { get; }

    public bool IsUp => _listener is not null;

    /// <summary>Drops every connection and stops listening: clients see resets, then connection refused.</summary>
    public void Cut()
    {
        _listener?.Stop();
        _listener = null;
        lock (_connections)
        {
            foreach (var c in _connections)
            {
                try
                {
                    // RST rather than FIN: the client sees the connection die at once, as in a crash.
                    c.Client?.LingerState = new LingerOption(true, 0);
                }
                catch (Exception)
                {
                    // already closed by its pump
                }

                c.Dispose();
            }

            _connections.Clear();
        }
    }

    /// <summary>
    /// Keeps every connection open but forwards nothing more (what either side sends is lost, as on a network gone dark),
    /// until <see cref="Cut"/>: a server's answer sent but never received.
    /// </summary>
    public void Hold() => _holding = true;

    public void Restore()
    {
        _holding = false;
        if (_listener is null)
        {
            Start();
        }
    }

    private void Start()
    {
        var listener = new TcpListener(IPAddress.Loopback, Port);
        listener.Server.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        listener.Start();
        _listener = listener;
        _accepting = Task.Run(() => AcceptAsync(listener));
    }

    private async Task AcceptAsync(TcpListener listener)
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await listener.AcceptTcpClientAsync(_stop.Token);
            }
            catch (Exception)
            {
                return;
            }

            var upstream = new TcpClient();
            try
            {
                await upstream.ConnectAsync(_targetHost, _targetPort, _stop.Token);
            }
            catch (Exception)
            {
                client.Dispose();
                upstream.Dispose();
                continue;
            }

            lock (_connections)
            {
                _connections.Add(client);
                _connections.Add(upstream);
            }

            _ = PumpAsync(client, upstream);
            _ = PumpAsync(upstream, client);
        }
    }

    private async Task PumpAsync(TcpClient from, TcpClient to)
    {
        try
        {
            var buffer = new byte[81920];
            int read;
            while ((read = await from.GetStream().ReadAsync(buffer, _stop.Token)) > 0)
            {
                if (!_holding)
                {
                    await to.GetStream().WriteAsync(buffer.AsMemory(0, read), _stop.Token);
                }
            }
        }
        catch (Exception)
        {
            // a cut or a closed peer
        }
        finally
        {
            from.Dispose();
            to.Dispose();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        Cut();
        if (_accepting is not null)
        {
            await _accepting.ContinueWith(_ => { }, TaskScheduler.Default);
        }

        _stop.Dispose();
    }
}
