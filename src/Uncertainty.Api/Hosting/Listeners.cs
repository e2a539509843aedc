using System.Net;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Uncertainty.Api.Hosting;

/// <summary>
/// Where Kestrel listens: the HTTP endpoints exactly as ASPNETCORE_URLS / --urls / Urls say (else ASPNETCORE_HTTP_PORTS,
/// else http://localhost:5000), HTTP/1.1 and HTTP/2, plus the gRPC port (<see cref="UncertaintyOptions.GrpcPort"/>)
/// with HTTP/2 only, which plaintext gRPC needs. Kestrel ignores the URLs once any endpoint is set explicitly, so with
/// a gRPC port every URL is listened on here; with GrpcPort 0 Kestrel binds the URLs itself.
/// </summary>
public static class Listeners
{
    public const string DefaultUrl = "http://localhost:5000";

    public static WebApplicationBuilder ConfigureListeners(this WebApplicationBuilder builder)
    {
        // Read when Kestrel is configured, not now: test hosts and command lines add settings after this call.
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            var configuration = kestrel.ApplicationServices.GetRequiredService<IConfiguration>();
            var grpcPort = GrpcPort(configuration);
            if (grpcPort == 0)
            {
                return;
            }

            // Endpoints under Kestrel:Endpoints are bound by Kestrel itself (they win over the URLs anyway).
            var urls = configuration.GetSection("Kestrel:Endpoints").Exists() ? [] : HttpUrls(configuration);
            foreach (var url in urls)
            {
                Listen(kestrel, BindingAddress.Parse(url));
            }

            kestrel.ListenAnyIP(grpcPort, listen => listen.Protocols = HttpProtocols.Http2);
        });
        return builder;
    }

    /// <summary>
    /// The gRPC port answers gRPC calls only: it listens on every address whatever the HTTP URLs say, so the rest of the
    /// API (training jobs, imports, metrics) must not be reachable through it; other requests there are a 404 naming the port.
    /// </summary>
    public static IApplicationBuilder UseGrpcPortForGrpcOnly(this IApplicationBuilder app)
    {
        var port = GrpcPort(app.ApplicationServices.GetRequiredService<IConfiguration>());
        return port == 0 ? app : app.Use((context, next) =>
            context.Connection.LocalPort != port || context.Request.ContentType?.StartsWith("application/grpc", StringComparison.OrdinalIgnoreCase) == true
                ? next(context)
                : throw new Problems.NotFoundException("Not a gRPC call", $"Port {port} (Uncertainty:GrpcPort) serves only gRPC (inference.GRPCInferenceService); the REST API is on the HTTP URLs."));
    }

    /// <summary>The configured gRPC port; 0 (nothing to listen on) for a value that is not a port, which options validation then reports by name.</summary>
    public static int GrpcPort(IConfiguration configuration) =>
        configuration[$"{UncertaintyOptions.Section}:{nameof(UncertaintyOptions.GrpcPort)}"] is not { } text ? UncertaintyOptions.DefaultGrpcPort
        : int.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var port) && port <= IPEndPoint.MaxPort ? port
        : 0;

    /// <summary>The HTTP URLs the configuration asks for, in Kestrel's order of precedence.</summary>
    public static IReadOnlyList<string> HttpUrls(IConfiguration configuration)
    {
        static string[] Split(string? value) => value?.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) ?? [];

        var urls = Split(configuration["urls"]);
        if (urls.Length > 0)
        {
            return urls;
        }

        string[] ports = [.. Split(configuration["http_ports"]).Select(port => $"http://*:{port}"), .. Split(configuration["https_ports"]).Select(port => $"https://*:{port}")];
        return ports.Length > 0 ? ports : [DefaultUrl];
    }

    /// <summary>
    /// The first endpoint another process already listens on, checked before anything starts (model loading, the
    /// inference thread), so a busy port stops the service at once; null when all are free.
    /// </summary>
    public static string? BusyEndpoint(IConfiguration configuration)
    {
        var grpcPort = GrpcPort(configuration);

        // Free before start, taken by the service itself: Kestrel would fail on the second bind, after models load.
        if (grpcPort > 0 && HttpUrls(configuration).FirstOrDefault(url => BindingAddress.Parse(url) is { IsUnixPipe: false } address && address.Port == grpcPort) is { } same)
        {
            return $"gRPC port {grpcPort} (Uncertainty:GrpcPort) is the port of {same} too.";
        }

        var endpoints = HttpUrls(configuration).Select(BindingAddress.Parse).Where(address => !address.IsUnixPipe && address.Port > 0)
            .Select(address => (Url: address.ToString(), Ip: string.Equals(address.Host, "localhost", StringComparison.OrdinalIgnoreCase) ? IPAddress.Loopback : IPAddress.TryParse(address.Host, out var ip) ? ip : IPAddress.IPv6Any, address.Port))
            .Append((Url: $"gRPC port {grpcPort} (Uncertainty:GrpcPort)", Ip: IPAddress.IPv6Any, Port: grpcPort))
            .Where(endpoint => endpoint.Port > 0);
        foreach (var (url, ip, port) in endpoints)
        {
            try
            {
                using var socket = new System.Net.Sockets.Socket(ip.AddressFamily, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
                if (ip.Equals(IPAddress.IPv6Any))
                {
                    socket.DualMode = true;
                }

                socket.Bind(new IPEndPoint(ip, port));
                socket.Listen();
            }
            catch (System.Net.Sockets.SocketException e) when (e.SocketErrorCode == System.Net.Sockets.SocketError.AddressAlreadyInUse)
            {
                return $"{url} is already in use.";
            }
            catch (System.Net.Sockets.SocketException)
            {
                // Anything else (no IPv6 on this host, an address not on it) is left to Kestrel, which reports it as it always has.
            }
        }

        return null;
    }

    /// <summary>What to do about a busy port, in one line.</summary>
    public static string BusyMessage(string endpoint) =>
        $"Cannot start: {endpoint} Set other HTTP addresses with ASPNETCORE_URLS or --urls (e.g. --urls http://localhost:5080), and another gRPC port with Uncertainty__GrpcPort (0 turns gRPC off).";

    /// <summary>The port a failed start could not bind, when that is why it failed.</summary>
    public static bool IsPortInUse(Exception exception, out string endpoint)
    {
        endpoint = "";
        for (var e = exception; e is not null; e = e.InnerException)
        {
            if (e is IOException { InnerException: Microsoft.AspNetCore.Connections.AddressInUseException } io)
            {
                endpoint = io.Message;
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// Kestrel's warning that explicit endpoints override the URLs (here they are the URLs), and the host's stack trace for
    /// a busy port (Program reports it in one line).
    /// </summary>
    public static bool IsListenNoise(Serilog.Events.LogEvent logEvent) =>
        logEvent.MessageTemplate.Text.StartsWith("Overriding address(es)", StringComparison.Ordinal)
        || (logEvent.Exception is { } exception && IsPortInUse(exception, out _));

    private static void Listen(KestrelServerOptions kestrel, BindingAddress address)
    {
        // Kestrel's defaults, as for the URLs it binds itself: HTTP/1.1 and HTTP/2 (HTTP/2 needs TLS there).
        void Configure(ListenOptions listen)
        {
            if (address.Scheme == "https")
            {
                listen.UseHttps();
            }
        }

        if (address.IsUnixPipe)
        {
            kestrel.ListenUnixSocket(address.UnixPipePath, Configure);
        }
        else if (string.Equals(address.Host, "localhost", StringComparison.OrdinalIgnoreCase))
        {
            kestrel.ListenLocalhost(address.Port, Configure);
        }
        else if (IPAddress.TryParse(address.Host, out var ip))
        {
            kestrel.Listen(ip, address.Port, Configure);
        }
        else
        {
            // "*", "+" and host names bind every address, as Kestrel does for them.
            kestrel.ListenAnyIP(address.Port, Configure);
        }
    }
}
