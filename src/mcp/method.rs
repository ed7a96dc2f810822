//! MCP's method names, in one list: which wire serves each, and how the dispatcher knows it.

/// An MCP request or notification method the gateway knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// `initialize` (session era; the transport mints the session).
    Initialize,
    /// `ping` (session era).
    Ping,
    /// `server/discover` (2026-07-28).
    ServerDiscover,
    /// `tools/list`.
    ToolsList,
    /// `tools/call`.
    ToolsCall,
    /// `resources/list`.
    ResourcesList,
    /// `resources/templates/list`.
    ResourcesTemplatesList,
    /// `resources/read`.
    ResourcesRead,
    /// `resources/subscribe` (session era).
    ResourcesSubscribe,
    /// `resources/unsubscribe` (session era).
    ResourcesUnsubscribe,
    /// `prompts/list`.
    PromptsList,
    /// `prompts/get`.
    PromptsGet,
    /// `completion/complete`.
    CompletionComplete,
    /// `logging/setLevel` (session era; 2026-07-28 carries the level in `_meta`).
    LoggingSetLevel,
    /// `subscriptions/listen` (2026-07-28).
    SubscriptionsListen,
    /// `notifications/cancelled`.
    Cancelled,
}

impl Method {
    /// Every method, for the tables below.
    const ALL: [(Method, &'static str); 16] = [
        (Method::Initialize, "initialize"),
        (Method::Ping, "ping"),
        (Method::ServerDiscover, "server/discover"),
        (Method::ToolsList, "tools/list"),
        (Method::ToolsCall, "tools/call"),
        (Method::ResourcesList, "resources/list"),
        (Method::ResourcesTemplatesList, "resources/templates/list"),
        (Method::ResourcesRead, "resources/read"),
        (Method::ResourcesSubscribe, "resources/subscribe"),
        (Method::ResourcesUnsubscribe, "resources/unsubscribe"),
        (Method::PromptsList, "prompts/list"),
        (Method::PromptsGet, "prompts/get"),
        (Method::CompletionComplete, "completion/complete"),
        (Method::LoggingSetLevel, "logging/setLevel"),
        (Method::SubscriptionsListen, "subscriptions/listen"),
        (Method::Cancelled, "notifications/cancelled"),
    ];

    /// The method named `name`, if the gateway knows it.
    pub fn parse(name: &str) -> Option<Method> {
        Method::ALL.iter().find(|(_, n)| *n == name).map(|(m, _)| *m)
    }

    /// Its name on the wire.
    pub fn name(self) -> &'static str {
        Method::ALL.iter().find(|(m, _)| *m == self).map(|(_, n)| *n).expect("every method is listed")
    }

    /// Whether the stateless wire (2026-07-28) serves it as a request.
    pub fn is_stateless(self) -> bool {
        matches!(
            self,
            Method::ServerDiscover
                | Method::ToolsList
                | Method::ToolsCall
                | Method::ResourcesList
                | Method::ResourcesTemplatesList
                | Method::ResourcesRead
                | Method::PromptsList
                | Method::PromptsGet
                | Method::CompletionComplete
                | Method::SubscriptionsListen
        )
    }

    /// Whether the session wire serves it as a request.
    pub fn is_session(self) -> bool {
        !matches!(self, Method::ServerDiscover | Method::SubscriptionsListen | Method::Cancelled)
    }

    /// The parameter that names what a request acts on (`Mcp-Name` must match it), if any.
    pub fn name_parameter(self) -> Option<&'static str> {
        match self {
            Method::ToolsCall | Method::PromptsGet => Some("name"),
            Method::ResourcesRead => Some("uri"),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_wires_are_told_apart() {
        for (method, name) in Method::ALL {
            assert_eq!(Method::parse(name), Some(method));
            assert_eq!(method.name(), name);
        }
        assert_eq!(Method::parse("tools/destroy"), None);
        assert!(Method::ToolsCall.is_stateless() && Method::ToolsCall.is_session());
        assert!(!Method::Ping.is_stateless() && !Method::ServerDiscover.is_session());
        assert_eq!(Method::ResourcesRead.name_parameter(), Some("uri"));
    }
}
