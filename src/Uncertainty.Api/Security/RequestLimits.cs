using System.Globalization;
using System.Net;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.RateLimiting;
using Uncertainty.Api.Problems;

namespace Uncertainty.Api.Security;

/// <summary>Body-size limits (413) and per-client rate limiting (429 with Retry-After).</summary>
public static class RequestLimits
{
    /// <summary>Marks an endpoint as taking uploads, up to <see cref="UncertaintyOptions.MaxUploadBytes"/>.</summary>
    public static TBuilder AcceptsUploads<TBuilder>(this TBuilder builder)
        where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(new UploadEndpoint());

    public static IServiceCollection AddRequestLimits(this IServiceCollection services) =>
        services.AddRateLimiter(limiter =>
        {
            // Health probes and scrapes are never limited; everything else is, per key or per client address.
            limiter.GlobalLimiter = PartitionedRateLimiter.Create<HttpContext, string>(context =>
                PerMinute(context) is var perMinute && (perMinute <= 0 || context.Request.Path.StartsWithSegments("/health") || context.Request.Path.StartsWithSegments("/v2/health") || context.Request.Path.StartsWithSegments("/metrics"))
                    ? RateLimitPartition.GetNoLimiter("unlimited")
                    : RateLimitPartition.GetFixedWindowLimiter(ClientOf(context), _ => new FixedWindowRateLimiterOptions
                    {
                        PermitLimit = perMinute,
                        Window = TimeSpan.FromMinutes(1),
                        QueueLimit = 0,
                    }));
            limiter.OnRejected = async (rejected, cancellationToken) =>
            {
                var retryAfter = rejected.Lease.TryGetMetadata(MetadataName.RetryAfter, out var wait) ? wait : TimeSpan.FromMinutes(1);
                var seconds = Math.Max(1, (int)Math.Ceiling(retryAfter.TotalSeconds));
                var http = rejected.HttpContext;
                await ProblemMap.WriteAsync(http, new ProblemMap.Problem(StatusCodes.Status429TooManyRequests, "Rate limit exceeded", $"At most {PerMinute(http)} requests a minute per client; retry in {seconds} s.") { RetryAfterSeconds = seconds });
            };
        });

    private static int PerMinute(HttpContext context) =>
        context.RequestServices.GetRequiredService<Microsoft.Extensions.Options.IOptions<UncertaintyOptions>>().Value.RateLimitPerMinute;

    /// <summary>After routing: 413 for a declared body over the endpoint's limit; undeclared (chunked) bodies are capped as they stream.</summary>
    public static IApplicationBuilder UseBodySizeLimits(this IApplicationBuilder app) =>
        app.Use(async (context, next) =>
        {
            var options = context.RequestServices.GetRequiredService<Microsoft.Extensions.Options.IOptions<UncertaintyOptions>>().Value;
            var limit = context.GetEndpoint()?.Metadata.GetMetadata<UploadEndpoint>() is null ? options.MaxRequestBodyBytes : options.MaxUploadBytes;
            if (context.Request.ContentLength > limit)
            {
                throw new PayloadTooLargeException("Request body too large", $"This endpoint takes at most {limit} bytes; the request declares {context.Request.ContentLength}.");
            }

            if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } feature)
            {
                feature.MaxRequestBodySize = limit;
            }

            await next(context);
        });

    /// <summary>An accepted key names the client; anything else (no key, a made-up one) counts against the address.</summary>
    private static string ClientOf(HttpContext context) =>
        context.Request.Headers.TryGetValue(ApiKeys.Header, out var key) && key.Count > 0 && context.RequestServices.GetRequiredService<ApiKeys>().Accepts(key.ToString())
            ? "key:" + Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(key.ToString())))
            : "ip:" + (context.Connection.RemoteIpAddress ?? IPAddress.None);

    private sealed class UploadEndpoint;
}
