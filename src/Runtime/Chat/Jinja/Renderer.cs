using System.Text;

namespace LongLM.Runtime.Chat.Jinja;

/// <summary>Lexical scope: a for-loop iteration, a macro call, or the template's top level.</summary>
internal sealed class Scope(Scope? parent)
{
    public Scope? Parent { get; } = parent;
    public Dictionary<string, object?> Vars { get; } = new(StringComparer.Ordinal);

    public bool TryLookup(string name, out object? value)
    {
        for (var s = this; s is not null; s = s.Parent)
            if (s.Vars.TryGetValue(name, out value)) return true;
        value = null;
        return false;
    }
}

/// <summary>A {% macro %}: called with positional then keyword arguments; returns its rendered body.</summary>
internal sealed class Macro(MacroNode definition, Scope closure) : Callable
{
    public override string Name => Definition.Name;
    public MacroNode Definition { get; } = definition;
    public Scope Closure { get; } = closure;

    public override object? Call(Renderer renderer, CallArgs args) =>
        renderer.CallMacro(Closure, Definition.Parameters, Definition.Body, args, null, Name);
}

/// <summary>The per-render state; a parsed template is shared, a Renderer is not.</summary>
internal sealed partial class Renderer
{
    private enum Flow { Normal, Break, Continue }

    private readonly SandboxLimits _limits;
    private readonly Scope _globals;
    private readonly DateTimeOffset? _now;
    private StringBuilder _out = new();
    private long _steps;
    private int _callDepth;
    private int _loopDepth;
    private Node? _current;

    public Renderer(SandboxLimits limits, IEnumerable<KeyValuePair<string, object?>> variables, DateTimeOffset? now)
    {
        _limits = limits;
        _now = now;
        _globals = new Scope(null);
        Builtins.AddGlobals(_globals.Vars);
        foreach (var kv in variables) _globals.Vars[kv.Key] = kv.Value;
    }

    public SandboxLimits Limits => _limits;

    /// <summary>The node being evaluated when an error is thrown: its line goes into the message.</summary>
    public Node? Current => _current;

    public DateTimeOffset Now => _now ?? DateTimeOffset.Now;

    public string Render(IReadOnlyList<Node> template)
    {
        var scope = new Scope(_globals);
        ExecBody(template, scope);
        return _out.ToString();
    }

    // ---- bounds ----

    public void Step()
    {
        if (++_steps > _limits.MaxSteps)
            throw new SandboxLimitError($"the template ran more than {_limits.MaxSteps} evaluation steps (sandbox limit)");
    }

    public void CheckLength(long length)
    {
        if (length > _limits.MaxOutputChars)
            throw new SandboxLimitError($"the template built more than {_limits.MaxOutputChars} characters of text (sandbox limit)");
    }

    /// <summary>Checks a string's size before it is built.</summary>
    public string CheckedString(long length, Func<string> build)
    {
        CheckLength(length);
        return build();
    }

    /// <summary>Lists are bounded like strings (one item, one character).</summary>
    public void CheckItems(long count) => CheckLength(count);

    private void Write(string s)
    {
        CheckLength((long)_out.Length + s.Length);
        _out.Append(s);
    }

    /// <summary>Renders <paramref name="body"/> into a fresh buffer (block set, macro, caller, filter block).</summary>
    private string Capture(IReadOnlyList<Node> body, Scope scope)
    {
        var saved = _out;
        _out = new StringBuilder();
        try
        {
            var flow = ExecBody(body, scope);
            if (flow != Flow.Normal) throw new JinjaError("break or continue outside of a loop");
            return _out.ToString();
        }
        finally
        {
            _out = saved;
        }
    }

    // ---- statements ----

    private Flow ExecBody(IReadOnlyList<Node> body, Scope scope)
    {
        foreach (var node in body)
        {
            var flow = Exec(node, scope);
            if (flow != Flow.Normal) return flow;
        }
        return Flow.Normal;
    }

    private Flow Exec(Node node, Scope scope)
    {
        Step();
        System.Runtime.CompilerServices.RuntimeHelpers.EnsureSufficientExecutionStack();
        _current = node;
        switch (node)
        {
            case TextNode t:
                Write(t.Text);
                return Flow.Normal;
            case OutputNode o:
                Write(PyFormat.Str(Eval(o.Value, scope)));
                return Flow.Normal;
            case IfNode i:
                foreach (var (test, body) in i.Branches)
                {
                    _current = test;
                    if (PyOps.Truthy(Eval(test, scope))) return ExecBody(body, scope);
                }
                return i.Else is null ? Flow.Normal : ExecBody(i.Else, scope);
            case ForNode f:
                return ExecFor(f, scope);
            case SetNode s:
                Assign(s.Target, Eval(s.Value, scope), scope);
                return Flow.Normal;
            case SetBlockNode sb:
            {
                object? value = Capture(sb.Body, scope);
                foreach (var filter in sb.Filters) value = Filters.Apply(this, filter, value, scope);
                Assign(sb.Target, value, scope);
                return Flow.Normal;
            }
            case MacroNode m:
                scope.Vars[m.Name] = new Macro(m, scope);
                return Flow.Normal;
            case CallBlockNode c:
            {
                var caller = new CallerFunction(this, scope, c);
                var callee = Eval(c.Call.Callee, scope);
                var args = EvalArgs(c.Call.Args, c.Call.Kwargs, scope);
                object? result = callee is Macro macro
                    ? CallMacroWithCaller(macro, args, caller)
                    : throw new JinjaError("{% call %} needs a macro");
                Write(PyFormat.Str(result));
                return Flow.Normal;
            }
            case FilterBlockNode fb:
            {
                object? value = Capture(fb.Body, scope);
                foreach (var filter in fb.Filters) value = Filters.Apply(this, filter, value, scope);
                Write(PyFormat.Str(value));
                return Flow.Normal;
            }
            case GenerationNode g:
                return ExecBody(g.Body, scope);
            case BreakNode:
                return Flow.Break;
            case ContinueNode:
                return Flow.Continue;
            default:
                throw new JinjaError($"cannot execute {node.GetType().Name}");
        }
    }

    private Flow ExecFor(ForNode f, Scope scope)
    {
        var source = Eval(f.Iter, scope);
        var all = Iterate(source);
        List<object?> items;
        if (f.Filter is null) items = all;
        else
        {
            // The loop filter runs before the loop, so loop.length and loop.last count the kept items only.
            items = [];
            foreach (var item in all)
            {
                Step();
                var filterScope = new Scope(scope);
                Assign(f.Target, item, filterScope);
                if (PyOps.Truthy(Eval(f.Filter, filterScope))) items.Add(item);
            }
        }
        if (items.Count == 0)
            return f.Else is null ? Flow.Normal : ExecBody(f.Else, scope);
        var loop = new LoopInfo(items, _loopDepth);
        _loopDepth++;
        try
        {
            for (int i = 0; i < items.Count; i++)
            {
                Step();
                loop.Index0 = i;
                // Each iteration is a fresh scope: a {% set %} in the body is not seen by the next iteration.
                var iterationScope = new Scope(scope);
                iterationScope.Vars["loop"] = loop;
                Assign(f.Target, items[i], iterationScope);
                var flow = ExecBody(f.Body, iterationScope);
                if (flow == Flow.Break) break;
            }
        }
        finally
        {
            _loopDepth--;
        }
        return Flow.Normal;
    }

    private void Assign(Target target, object? value, Scope scope)
    {
        if (target.NamespaceAttribute is not null)
        {
            if (!scope.TryLookup(target.Name!, out var ns) || ns is not Namespace nsObject)
                throw new JinjaError("cannot assign attribute on non-namespace object");
            nsObject.Attributes.Set(target.NamespaceAttribute, value);
            return;
        }
        if (target.Name is not null)
        {
            scope.Vars[target.Name] = value;
            return;
        }
        var names = target.Tuple!;
        var values = Iterate(value);
        if (values.Count != names.Count)
            throw new JinjaError(values.Count > names.Count ? $"too many values to unpack (expected {names.Count})" : $"not enough values to unpack (expected {names.Count}, got {values.Count})");
        for (int i = 0; i < names.Count; i++) Assign(names[i], values[i], scope);
    }

    /// <summary>Python iteration: a string gives its characters, a dict its keys, Undefined nothing.</summary>
    public List<object?> Iterate(object? value)
    {
        switch (value)
        {
            case PyList l: return l.Items;
            case PyDict d: return d.Entries.Select(e => (object?)e.Key).ToList();
            case string s: return PyOps.CodePoints(s).Select(c => (object?)c).ToList();
            case PyRange r:
            {
                long n = r.Length;
                if (n > _limits.MaxSteps - _steps)
                    throw new SandboxLimitError($"range of {n} items exceeds the template's {_limits.MaxSteps} evaluation steps (sandbox limit)");
                var items = new List<object?>((int)n);
                for (long i = 0; i < n; i++) items.Add(r[i]);
                return items;
            }
            case Undefined: return [];
            case Namespace ns: return ns.Attributes.Entries.Select(e => (object?)e.Key).ToList();
            default: throw new JinjaError($"'{PyOps.TypeName(value)}' object is not iterable");
        }
    }

    // ---- macros ----

    public object? CallMacro(Scope closure, IReadOnlyList<(string Name, Expr? Default)> parameters, IReadOnlyList<Node> body, CallArgs args, Callable? caller, string name)
    {
        if (++_callDepth > _limits.MaxCallDepth)
            throw new SandboxLimitError($"macro calls nested deeper than {_limits.MaxCallDepth} (sandbox limit)");
        var saved = _current;
        try
        {
            var scope = new Scope(closure);
            var extra = new List<object?>();
            for (int i = 0; i < args.Positional.Count; i++)
            {
                if (i < parameters.Count) scope.Vars[parameters[i].Name] = args.Positional[i];
                else extra.Add(args.Positional[i]);
            }
            var kwargs = new PyDict();
            foreach (var (key, value) in args.Keyword)
            {
                int index = -1;
                for (int i = 0; i < parameters.Count; i++) if (parameters[i].Name == key) { index = i; break; }
                if (index < 0) kwargs.Set(key, value);
                else if (index < args.Positional.Count) throw new JinjaError($"macro '{name}' got multiple values for argument '{key}'");
                else scope.Vars[key] = value;
            }
            foreach (var (pname, fallback) in parameters)
            {
                if (scope.Vars.ContainsKey(pname)) continue;
                scope.Vars[pname] = fallback is null ? new Undefined($"parameter '{pname}' was not provided") : Eval(fallback, scope);
            }
            scope.Vars["varargs"] = new PyList(extra, isTuple: true);
            scope.Vars["kwargs"] = kwargs;
            if (caller is not null) scope.Vars["caller"] = caller;
            int loops = _loopDepth;
            _loopDepth = 0;
            try
            {
                return Capture(body, scope);
            }
            finally
            {
                _loopDepth = loops;
            }
        }
        finally
        {
            _callDepth--;
            _current = saved;
        }
    }

    private object? CallMacroWithCaller(Macro macro, CallArgs args, Callable caller) =>
        CallMacro(macro.Closure, macro.Definition.Parameters, macro.Definition.Body, args, caller, macro.Name);

    /// <summary>`caller()` inside a macro invoked by {% call %}: renders the call block's body.</summary>
    private sealed class CallerFunction(Renderer renderer, Scope scope, CallBlockNode node) : Callable
    {
        public override string Name => "caller";

        public override object? Call(Renderer r, CallArgs args) =>
            renderer.CallMacro(scope, node.CallerParameters, node.Body, args, null, "caller");
    }
}
