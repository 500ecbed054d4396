using System.CommandLine;
using LongLM.Server;

namespace LongLM.Cli.Commands;

/// <summary>
/// `longlm serve`: the OpenAI-compatible HTTP server (llama-server's habits). Runs until SIGTERM or Ctrl-C, then stops
/// accepting, cancels the generations in flight and exits 0.
/// </summary>
public static class ServeCommand
{
    /// <summary>Builds the command.</summary>
    public static Command Create(CliIO io)
    {
        var model = CommonOptions.Model();
        var backend = CommonOptions.Backend();
        var threads = CommonOptions.Threads();
        var host = new Option<string>("--host") { Description = "Address to listen on (default loopback; 0.0.0.0 exposes the server)", DefaultValueFactory = _ => "127.0.0.1" };
        var port = new Option<int>("--port") { Description = "TCP port (0: a free one)", DefaultValueFactory = _ => 8080 };
        var parallel = new Option<int>("--parallel", "-np") { Description = "Slots: requests generating at once, each with its own KV cache", DefaultValueFactory = _ => 1 };
        var queue = new Option<int>("--queue") { Description = "Requests that may wait for a slot; more get 503 with Retry-After", DefaultValueFactory = _ => 16 };
        var apiKey = new Option<string?>("--api-key") { Description = "Require 'Authorization: Bearer KEY' on /v1 requests" };
        var name = new Option<string?>("--alias") { Description = "Model id in /v1/models and responses (default: the folder name)" };
        var template = new Option<string?>("--chat-template") { Description = "A Jinja chat template file for a model without one" };
        var command = new Command("serve", "OpenAI-compatible HTTP server: /v1/chat/completions, /v1/completions, /v1/embeddings, /v1/models, /health, /tokenize, /detokenize")
        {
            model, backend, threads, host, port, parallel, queue, apiKey, name, template,
        };
        var attention = new AttentionFlags(command, topKAlias: false);
        command.SetAction(parse => io.Guard(() =>
        {
            using var loaded = io.LoadModel(parse.GetValue(model)!, parse.GetValue(backend)!, attention.Single(parse), parse.GetValue(threads));
            var options = new ServerOptions
            {
                Host = parse.GetValue(host)!,
                Port = parse.GetValue(port),
                Parallel = parse.GetValue(parallel),
                Queue = parse.GetValue(queue),
                ApiKey = parse.GetValue(apiKey),
                ModelName = parse.GetValue(name),
                ChatTemplate = parse.GetValue(template) is { } file ? CliIO.ReadTextFile(file, 1 << 20, "chat template") : null,
            };
            using var stop = new CancellationTokenSource();
            ConsoleCancelEventHandler onCancel = (_, e) => { e.Cancel = true; stop.Cancel(); };
            Console.CancelKeyPress += onCancel;
            using var sigterm = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, c => { c.Cancel = true; stop.Cancel(); });
            try
            {
                var server = LongLMServer.StartAsync(loaded.Model, options).GetAwaiter().GetResult();
                io.Err.WriteLine($"longlm: serving {parse.GetValue(model)} on {server.BaseAddress} ({options.Parallel} slot(s), queue {options.Queue}); Ctrl-C stops");
                try
                {
                    stop.Token.WaitHandle.WaitOne();
                }
                finally
                {
                    io.Err.WriteLine("longlm: stopping");
                    server.DisposeAsync().AsTask().GetAwaiter().GetResult();
                }
            }
            finally
            {
                Console.CancelKeyPress -= onCancel;
            }
            return ExitCodes.Ok;
        }));
        return command;
    }
}
