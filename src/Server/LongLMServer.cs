using System.Net;
using System.Text.Json;
using LongLM.Chat;
using LongLM.Models;
using LongLM.Runtime;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace LongLM.Server;

/// <summary>
/// An OpenAI-compatible HTTP server over one loaded model: /v1/chat/completions, /v1/completions, /v1/embeddings,
/// /v1/models, /health, and llama-server's /tokenize and /detokenize. Requests run on N slots (independent
/// sessions); more wait in a bounded queue; beyond it, 503. The server does not own the model.
/// </summary>
public sealed class LongLMServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly SlotPool _slots;
    private readonly CancellationTokenSource _stopping = new();

    private LongLMServer(WebApplication app, SlotPool slots, Uri baseAddress)
    {
        _app = app;
        _slots = slots;
        BaseAddress = baseAddress;
    }

    /// <summary>Where the server listens, e.g. http://127.0.0.1:8080/.</summary>
    public Uri BaseAddress { get; }

    /// <summary>Requests holding a slot now.</summary>
    public int ActiveRequests => _slots.Active;

    /// <summary>Completes when the server has stopped.</summary>
    public Task Completion => _app.WaitForShutdownAsync();

    /// <summary>Starts serving <paramref name="model"/>.</summary>
    /// <exception cref="LongLMException">A bad option, or a chat template that does not parse.</exception>
    public static async Task<LongLMServer> StartAsync(LanguageModel model, ServerOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        if (!IPAddress.TryParse(options.Host == "localhost" ? "127.0.0.1" : options.Host, out var address))
            throw new LongLMException($"--host must be an IP address, got '{options.Host}'");
        ChatFormat? format = options.ChatTemplate is { } source ? ChatFormat.WithTemplate(model, source)
            : Runtime.Chat.ChatTemplates.Load(model.Directory) is not null ? ChatFormat.ForModel(model) : null;
        string name = options.ModelName ?? Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(model.Directory)));

        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [], ApplicationName = "LongLM.Server" });
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Listen(address, options.Port);
            k.Limits.MaxRequestBodySize = options.MaxBodyBytes;
            k.AddServerHeader = false;
        });
        builder.Services.Configure<HostOptions>(h => h.ShutdownTimeout = TimeSpan.FromSeconds(10));
        // An embedded server must not take over the process's Ctrl-C and SIGTERM (the console lifetime would): the
        // host application decides when to stop (longlm serve handles both and calls StopAsync).
        builder.Services.AddSingleton<IHostLifetime, EmbeddedLifetime>();
        var app = builder.Build();
        var slots = new SlotPool(model, format, options.Parallel, options.Queue);
        var api = new OpenAIEndpoints(model, format, slots, name);
        LongLMServer? server = null;
        app.Use(async (context, next) =>
        {
            try
            {
                if (options.ApiKey is { } key && context.Request.Path.StartsWithSegments("/v1")
                    && context.Request.Headers.Authorization.ToString() != "Bearer " + key)
                    throw new OpenAIError(401, "missing or wrong API key: send 'Authorization: Bearer KEY'", "authentication_error", code: "invalid_api_key");
                using var linked = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, server!._stopping.Token);
                context.RequestAborted = linked.Token;
                await next(context);
            }
            catch (Exception e)
            {
                await OpenAIEndpoints.WriteErrorAsync(context, e);
            }
        });
        api.Map(app);
        await app.StartAsync(cancellationToken).ConfigureAwait(false);
        var bound = app.Urls.First();
        server = new LongLMServer(app, slots, new Uri(bound.EndsWith('/') ? bound : bound + "/"));
        return server;
    }

    /// <summary>Stops accepting connections, cancels the generations in flight (each ends within one token) and waits for them.</summary>
    public async Task StopAsync(CancellationToken cancellationToken = default)
    {
        if (!_stopping.IsCancellationRequested) await _stopping.CancelAsync().ConfigureAwait(false);
        await _app.StopAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>A host lifetime that leaves signals to the application.</summary>
    private sealed class EmbeddedLifetime : IHostLifetime
    {
        public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;
        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }

    /// <summary>Stops the server and releases its slots.</summary>
    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
        _slots.Dispose();
        _stopping.Dispose();
    }
}
