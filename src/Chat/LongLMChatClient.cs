using System.Runtime.CompilerServices;
using LongLM.Models;
using LongLM.Runtime;
using LongLM.Runtime.Inference;
using LongLM.Runtime.Sampling;
using Microsoft.Extensions.AI;

namespace LongLM.Chat;

/// <summary>Settings of a <see cref="LongLMChatClient"/>.</summary>
public sealed record LongLMChatClientOptions
{
    /// <summary>A Jinja chat template to use instead of the model's (required when the model has none).</summary>
    public string? ChatTemplate { get; init; }
    /// <summary>A named template of the model folder ("tool_use" ...); null follows HF's choice.</summary>
    public string? TemplateName { get; init; }
    /// <summary>
    /// Conversations kept with their KV caches between calls: a request continues the one sharing the longest
    /// prefix with it, so a follow-up turn runs only its new tokens. Each costs one KV cache of memory.
    /// </summary>
    public int MaxCachedConversations { get; init; } = 4;
    /// <summary>Sampling and limits when <see cref="ChatOptions"/> leaves them unset; null: the model's generation_config.json over LongLM's defaults.</summary>
    public GenerationOptions? Defaults { get; init; }
}

/// <summary>
/// Microsoft.Extensions.AI's <see cref="IChatClient"/> over a local model: the model's chat template, streaming,
/// <see cref="ChatOptions"/> mapped to sampling, usage counts, and KV-cache reuse across calls.
/// </summary>
/// <remarks>
/// Thread-safe: concurrent calls run on separate conversations (sessions) of the one model. The client does not own
/// the model; disposing the client releases its cached conversations only.
/// </remarks>
public sealed class LongLMChatClient : IChatClient
{
    private readonly LanguageModel _model;
    private readonly ChatFormat _format;
    private readonly LongLMChatClientOptions _options;
    private readonly GenerationOptions _defaults;
    private readonly List<ChatConversation> _idle = [];
    private readonly object _gate = new();
    private bool _disposed;

    /// <summary>A chat client over <paramref name="model"/>.</summary>
    /// <exception cref="LongLMException">The model has no chat template and none was given, or a setting is out of range.</exception>
    public LongLMChatClient(LanguageModel model, LongLMChatClientOptions? options = null)
    {
        _model = model ?? throw new ArgumentNullException(nameof(model));
        _options = options ?? new LongLMChatClientOptions();
        if (_options.MaxCachedConversations is < 0 or > 1024)
            throw new LongLMException($"MaxCachedConversations must lie in [0, 1024], got {_options.MaxCachedConversations}");
        _format = _options.ChatTemplate is { } source ? ChatFormat.WithTemplate(model, source) : ChatFormat.ForModel(model, _options.TemplateName);
        _defaults = _options.Defaults ?? GenerationDefaults.For(model);
        _defaults.Validate();
        Metadata = new ChatClientMetadata("LongLM", new Uri(Path.GetFullPath(model.Directory)), Path.GetFileName(Path.TrimEndingDirectorySeparator(model.Directory)));
    }

    /// <summary>Provider "LongLM", the model folder as URI and its name as model id.</summary>
    public ChatClientMetadata Metadata { get; }

    /// <summary>The chat format (template, stop ids) in use.</summary>
    public ChatFormat Format => _format;

    /// <inheritdoc />
    public async Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        var updates = new List<ChatResponseUpdate>();
        await foreach (var update in GetStreamingResponseAsync(messages, options, cancellationToken).ConfigureAwait(false)) updates.Add(update);
        return updates.ToChatResponse();
    }

    /// <inheritdoc />
    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentNullException.ThrowIfNull(messages);
        var json = ChatMessagesJson.ToJson(messages, options?.Instructions);
        var tools = ChatMessagesJson.ToolsJson(options);
        var generation = Map(options);
        string responseId = "chatcmpl-" + Guid.NewGuid().ToString("N");
        string messageId = Guid.NewGuid().ToString("N");
        var created = DateTimeOffset.UtcNow;
        string modelId = options?.ModelId ?? Metadata.DefaultModelId!;

        var rendered = _format.Render(json, tools, addGenerationPrompt: true);
        var conversation = Acquire(rendered.Text);
        bool healthy = false;
        try
        {
            var prompt = conversation.Adopt(rendered, json, tools);
            await foreach (var text in conversation.ReplyAsync(prompt, generation, null, cancellationToken).ConfigureAwait(false))
            {
                yield return new ChatResponseUpdate(ChatRole.Assistant, text)
                {
                    ResponseId = responseId, MessageId = messageId, CreatedAt = created, ModelId = modelId,
                };
            }
            var turn = conversation.LastTurn!;
            yield return new ChatResponseUpdate
            {
                Role = ChatRole.Assistant,
                ResponseId = responseId, MessageId = messageId, CreatedAt = created, ModelId = modelId,
                FinishReason = turn.Finish == FinishReason.Length ? ChatFinishReason.Length : ChatFinishReason.Stop,
                Contents =
                [
                    new UsageContent(new UsageDetails
                    {
                        InputTokenCount = turn.PromptTokens,
                        CachedInputTokenCount = turn.CachedPromptTokens,
                        OutputTokenCount = turn.GeneratedTokens,
                        TotalTokenCount = turn.PromptTokens + turn.GeneratedTokens,
                    }),
                ],
            };
            healthy = true;
        }
        finally
        {
            Release(conversation, healthy);
        }
    }

    /// <summary>ChatOptions over the defaults: unset values keep the defaults.</summary>
    private GenerationOptions Map(ChatOptions? options)
    {
        if (options is null) return _defaults;
        var s = _defaults.Sampling;
        var sampling = s with
        {
            Temperature = options.Temperature ?? s.Temperature,
            TopP = options.TopP ?? s.TopP,
            TopK = options.TopK ?? s.TopK,
            FrequencyPenalty = options.FrequencyPenalty ?? s.FrequencyPenalty,
            PresencePenalty = options.PresencePenalty ?? s.PresencePenalty,
            Seed = options.Seed is long seed ? unchecked((int)seed ^ (int)(seed >> 32)) : s.Seed,
        };
        var mapped = _defaults with
        {
            Sampling = sampling,
            MaxTokens = options.MaxOutputTokens ?? _defaults.MaxTokens,
            StopSequences = options.StopSequences is { Count: > 0 } stops ? [.. _defaults.StopSequences, .. stops] : _defaults.StopSequences,
        };
        mapped.Validate();
        return mapped;
    }

    /// <summary>The idle conversation sharing the longest prefix with the prompt, else a new one.</summary>
    private ChatConversation Acquire(string promptText)
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            ChatConversation? best = null;
            int bestShared = -1;
            foreach (var c in _idle)
            {
                int shared = c.SharedPrefix(promptText);
                if (shared > bestShared) (best, bestShared) = (c, shared);
            }
            if (best is not null)
            {
                _idle.Remove(best);
                return best;
            }
        }
        return new ChatConversation(_model, _format);
    }

    /// <summary>Keeps a conversation for reuse (most recent last), dropping the oldest beyond the limit.</summary>
    private void Release(ChatConversation conversation, bool healthy)
    {
        ChatConversation? evicted = null;
        lock (_gate)
        {
            if (_disposed || !healthy || _options.MaxCachedConversations == 0)
            {
                evicted = conversation;
            }
            else
            {
                _idle.Add(conversation);
                if (_idle.Count > _options.MaxCachedConversations)
                {
                    evicted = _idle[0];
                    _idle.RemoveAt(0);
                }
            }
        }
        evicted?.Dispose();
    }

    /// <inheritdoc />
    public object? GetService(Type serviceType, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        if (serviceKey is not null) return null;
        if (serviceType == typeof(ChatClientMetadata)) return Metadata;
        if (serviceType == typeof(LanguageModel)) return _model;
        if (serviceType == typeof(ChatFormat)) return _format;
        return serviceType.IsInstanceOfType(this) ? this : null;
    }

    /// <summary>Releases the cached conversations (not the model); a second call is a no-op.</summary>
    public void Dispose()
    {
        List<ChatConversation> idle;
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            idle = [.. _idle];
            _idle.Clear();
        }
        foreach (var c in idle) c.Dispose();
    }
}
