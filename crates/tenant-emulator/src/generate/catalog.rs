//! Static vocabulary for the synthetic tenant: business domains with their agent names,
//! topics, tools, knowledge sources, questions and answers.

pub(crate) struct TopicDef {
    pub(crate) name: &'static str,
    pub(crate) triggers: &'static [&'static str],
    pub(crate) reply: &'static str,
    /// A question the bot asks with an adaptive card (choices), if any.
    pub(crate) card: Option<(&'static str, &'static [&'static str])>,
}

pub(crate) enum ToolKind {
    /// A Power Platform connector action (`InvokeConnectorTaskAction`).
    Connector {
        connector: &'static str,
        operation: &'static str,
    },
    /// An MCP server (`InvokeExternalAgentTaskAction` + `ModelContextProtocolMetadata`).
    Mcp,
    /// A Power Automate flow (`InvokeFlowTaskAction`).
    Flow,
}

pub(crate) struct ToolDef {
    pub(crate) name: &'static str,
    pub(crate) description: &'static str,
    pub(crate) kind: ToolKind,
    /// Input argument name and an example value.
    pub(crate) argument: (&'static str, &'static str),
    pub(crate) result: &'static str,
}

pub(crate) enum KnowledgeKind {
    SharePoint(&'static str),
    PublicSite(&'static str),
    Dataverse(&'static str),
}

pub(crate) struct KnowledgeDef {
    pub(crate) name: &'static str,
    pub(crate) description: &'static str,
    pub(crate) kind: KnowledgeKind,
}

pub(crate) struct Domain {
    pub(crate) agent_names: &'static [&'static str],
    pub(crate) instructions: &'static str,
    pub(crate) topics: &'static [TopicDef],
    pub(crate) tools: &'static [ToolDef],
    pub(crate) knowledge: &'static [KnowledgeDef],
    /// (question, grounded answer)
    pub(crate) questions: &'static [(&'static str, &'static str)],
    pub(crate) unanswerable: &'static [&'static str],
}

pub(crate) const COMPANIES: &[&str] = &[
    "Contoso",
    "Fabrikam",
    "Northwind",
    "Adventure Works",
    "Tailspin",
    "Litware",
    "Woodgrove",
    "Proseware",
    "Wingtip",
    "Alpine Ski House",
    "Coho",
    "Fourth Coffee",
    "Lamna",
    "Relecloud",
    "Trey Research",
    "Wide World Importers",
    "Margie's Travel",
    "Humongous Insurance",
    "Blue Yonder Airlines",
    "Graphic Design Institute",
];

pub(crate) const PUBLISHER_PREFIXES: &[&str] =
    &["cr3e5", "cr26e", "cr63f", "copilots_header", "ppa"];

pub(crate) const GREETINGS: &[&str] = &["Hi", "Hello", "Hey", "Good morning", "hi there"];

pub(crate) const GOODBYES: &[&str] = &["Thanks, that's all", "thank you!", "bye", "Great, thanks"];

pub(crate) const DOMAINS: &[Domain] = &[
    Domain {
        agent_names: &[
            "HR Buddy",
            "Benefits Assistant",
            "People Helper",
            "Leave Planner",
        ],
        instructions: "You help employees with HR policies, benefits and time off. Answer only from the HR knowledge sources and never disclose another employee's data.",
        topics: &[
            TopicDef {
                name: "Request time off",
                triggers: &[
                    "I want to take a day off",
                    "book vacation",
                    "request leave",
                    "time off request",
                    "I need holiday next week",
                ],
                reply: "I can help you request time off. Your request has been sent to your manager for approval.",
                card: Some((
                    "Which type of leave do you need?",
                    &["Vacation", "Sick leave", "Parental leave"],
                )),
            },
            TopicDef {
                name: "Check leave balance",
                triggers: &[
                    "how many vacation days do I have",
                    "leave balance",
                    "remaining PTO",
                ],
                reply: "You have 12 vacation days and 3 personal days left this year.",
                card: None,
            },
            TopicDef {
                name: "Update address",
                triggers: &["change my address", "I moved", "update home address"],
                reply: "Your address change has been submitted. It will appear in the HR system within two business days.",
                card: Some(("Is this a permanent move?", &["Yes", "No"])),
            },
        ],
        tools: &[
            ToolDef {
                name: "Get Employee Leave Balance",
                description: "Returns the remaining leave days of the signed-in employee",
                kind: ToolKind::Connector {
                    connector: "shared_office365users",
                    operation: "MyProfile_V2",
                },
                argument: ("employeeId", "E-10482"),
                result: "{\"vacation\":12,\"personal\":3}",
            },
            ToolDef {
                name: "Submit Leave Request",
                description: "Creates a leave request for approval by the employee's manager",
                kind: ToolKind::Flow,
                argument: ("startDate", "2026-04-13"),
                result: "{\"requestId\":\"LR-88121\",\"status\":\"Pending\"}",
            },
        ],
        knowledge: &[
            KnowledgeDef {
                name: "HR Documents",
                description: "Human Resources related info",
                kind: KnowledgeKind::SharePoint("https://contoso.sharepoint.com/sites/HR/Policies"),
            },
            KnowledgeDef {
                name: "Benefits Guide",
                description: "Benefits enrollment and eligibility",
                kind: KnowledgeKind::SharePoint("https://contoso.sharepoint.com/sites/Benefits"),
            },
        ],
        questions: &[
            (
                "What is the parental leave policy?",
                "Employees are eligible for 16 weeks of paid parental leave, which can be taken within 12 months of the birth or adoption.",
            ),
            (
                "When is open enrollment for benefits?",
                "Open enrollment runs from November 1 to November 15. Changes take effect on January 1.",
            ),
            (
                "Can I carry over unused vacation days?",
                "You can carry over up to 5 unused vacation days into the next calendar year; they expire on March 31.",
            ),
            (
                "How do I add my spouse to my medical plan?",
                "You can add a spouse within 30 days of a qualifying life event through the benefits portal under Life Events.",
            ),
            (
                "Is there a remote work stipend?",
                "Full-time remote employees receive a one-time home office stipend of $500 and a monthly internet allowance of $50.",
            ),
        ],
        unanswerable: &[
            "What is my manager's salary?",
            "Can you fire my coworker?",
            "What's the weather on Mars?",
        ],
    },
    Domain {
        agent_names: &[
            "IT Helpdesk",
            "Service Desk Agent",
            "Tech Support Copilot",
            "Device Helper",
        ],
        instructions: "You are the IT service desk. Troubleshoot common issues, create tickets with the ticketing tool and look up known incidents before answering.",
        topics: &[
            TopicDef {
                name: "Reset password",
                triggers: &[
                    "reset my password",
                    "forgot password",
                    "I am locked out",
                    "password expired",
                ],
                reply: "I've sent a password reset link to your registered mobile number. It expires in 15 minutes.",
                card: Some((
                    "How would you like to verify your identity?",
                    &["Text message", "Authenticator app"],
                )),
            },
            TopicDef {
                name: "Report an outage",
                triggers: &[
                    "VPN is down",
                    "email is not working",
                    "report an outage",
                    "Teams keeps crashing",
                ],
                reply: "Thanks for reporting it. I created incident INC0041870 and the network team has been notified.",
                card: None,
            },
            TopicDef {
                name: "Request software",
                triggers: &[
                    "install software",
                    "I need Visio",
                    "request a license",
                    "new software request",
                ],
                reply: "Your software request has been submitted for approval.",
                card: Some((
                    "Which product do you need?",
                    &["Visio", "Project", "Power BI Pro"],
                )),
            },
        ],
        tools: &[
            ToolDef {
                name: "Create Ticket",
                description: "Creates an incident in the IT service management system",
                kind: ToolKind::Connector {
                    connector: "shared_service-now",
                    operation: "CreateRecord",
                },
                argument: ("short_description", "VPN disconnects every 10 minutes"),
                result: "{\"number\":\"INC0041870\",\"state\":\"New\"}",
            },
            ToolDef {
                name: "Device Inventory MCP",
                description: "Looks up the devices assigned to a user",
                kind: ToolKind::Mcp,
                argument: ("userPrincipalName", "alex@contoso.com"),
                result: "{\"devices\":[{\"name\":\"LT-4410\",\"os\":\"Windows 11\"}]}",
            },
        ],
        knowledge: &[
            KnowledgeDef {
                name: "IT Knowledge Base",
                description: "Troubleshooting articles for common IT issues",
                kind: KnowledgeKind::SharePoint("https://contoso.sharepoint.com/sites/IT/KB"),
            },
            KnowledgeDef {
                name: "Service status",
                description: "Public status page of Microsoft 365 services",
                kind: KnowledgeKind::PublicSite("https://status.cloud.microsoft/"),
            },
        ],
        questions: &[
            (
                "How do I connect to the VPN from home?",
                "Open the GlobalProtect client, enter vpn.contoso.com as the portal and sign in with your corporate account and MFA.",
            ),
            (
                "My laptop battery drains fast, what can I do?",
                "Switch the power mode to Best power efficiency, close background apps and update the BIOS from Company Portal.",
            ),
            (
                "How do I set up MFA on a new phone?",
                "Go to https://aka.ms/mysecurityinfo, add a sign-in method and scan the QR code with Microsoft Authenticator.",
            ),
            (
                "Why can't I open shared mailboxes in Outlook?",
                "Shared mailboxes appear after automapping completes, which can take up to 60 minutes after access is granted.",
            ),
            (
                "How do I map a network drive?",
                "In File Explorer select This PC, then Map network drive, choose a letter and enter \\\\files.contoso.com\\share.",
            ),
        ],
        unanswerable: &[
            "Can you give me admin rights?",
            "What is the CEO's password?",
            "When will the new office open?",
        ],
    },
    Domain {
        agent_names: &[
            "Orders Agent",
            "Order Status Bot",
            "Customer Care Copilot",
            "Returns Assistant",
        ],
        instructions: "You help customers track orders, start returns and answer shipping questions. Always confirm the order number before changing anything.",
        topics: &[
            TopicDef {
                name: "Track order",
                triggers: &[
                    "where is my order",
                    "track my package",
                    "order status",
                    "has my order shipped",
                ],
                reply: "Order 100-4821 shipped yesterday with UPS and should arrive on Thursday.",
                card: None,
            },
            TopicDef {
                name: "Start a return",
                triggers: &[
                    "return an item",
                    "I want a refund",
                    "start a return",
                    "send it back",
                ],
                reply: "Your return label has been emailed. Drop the package at any UPS location within 30 days.",
                card: Some((
                    "Why are you returning the item?",
                    &["Damaged", "Wrong size", "No longer needed"],
                )),
            },
            TopicDef {
                name: "Cancel order",
                triggers: &[
                    "cancel my order",
                    "I don't want it anymore",
                    "stop my order",
                ],
                reply: "Your order has been cancelled and the refund will reach your card in 3-5 business days.",
                card: Some((
                    "Are you sure you want to cancel?",
                    &["Yes, cancel it", "No, keep it"],
                )),
            },
        ],
        tools: &[
            ToolDef {
                name: "orders mcp",
                description: "my orders mcp server connector",
                kind: ToolKind::Mcp,
                argument: ("orderNumber", "100-4821"),
                result: "{\"status\":\"Shipped\",\"carrier\":\"UPS\",\"eta\":\"Thursday\"}",
            },
            ToolDef {
                name: "Get Account Details",
                description: "This tool allows a user to get the details of a specified account by account name",
                kind: ToolKind::Connector {
                    connector: "shared_commondataserviceforapps",
                    operation: "PerformUnboundActionWithOrganization",
                },
                argument: ("item.search", "Fabrikam"),
                result: "{\"response\":\"{\\\"name\\\":\\\"Fabrikam\\\",\\\"accountnumber\\\":\\\"AC-2211\\\"}\"}",
            },
        ],
        knowledge: &[
            KnowledgeDef {
                name: "Shipping policy",
                description: "Shipping and returns policy pages",
                kind: KnowledgeKind::PublicSite("https://www.contoso.com/help/shipping"),
            },
            KnowledgeDef {
                name: "Orders, Order Lines, Customers",
                description: "This knowledge source answers questions found in the following Dataverse items: Orders, Order Lines, Customers",
                kind: KnowledgeKind::Dataverse("Orders_OrderLinesCustomers"),
            },
        ],
        questions: &[
            (
                "How long does standard shipping take?",
                "Standard shipping takes 3-5 business days within the continental US; express takes 1-2 business days.",
            ),
            (
                "Do you ship internationally?",
                "Yes, we ship to 40 countries. Duties and taxes are calculated at checkout.",
            ),
            (
                "What is your return window?",
                "Most items can be returned within 30 days of delivery in their original condition.",
            ),
            (
                "Can I change the delivery address after ordering?",
                "You can change the address until the order ships, from Order details > Edit address.",
            ),
            (
                "Is gift wrapping available?",
                "Gift wrapping is available for $4.99 per item and can be selected at checkout.",
            ),
        ],
        unanswerable: &[
            "Will prices drop next month?",
            "Can you give me a 90% discount?",
            "Who won the game last night?",
        ],
    },
    Domain {
        agent_names: &[
            "Expense Helper",
            "Finance Copilot",
            "Invoice Assistant",
            "Travel & Expense Agent",
        ],
        instructions: "You answer questions on the travel and expense policy and help submit expense reports. Never approve your own expenses.",
        topics: &[
            TopicDef {
                name: "Submit expense",
                triggers: &[
                    "submit an expense",
                    "file my receipts",
                    "expense report",
                    "claim a reimbursement",
                ],
                reply: "Your expense report ER-20931 was created. Attach the receipts and submit it for approval.",
                card: Some((
                    "What kind of expense is it?",
                    &["Travel", "Meals", "Equipment"],
                )),
            },
            TopicDef {
                name: "Invoice status",
                triggers: &[
                    "invoice status",
                    "has my invoice been paid",
                    "payment status of invoice",
                ],
                reply: "Invoice INV-7731 was approved on Monday and is scheduled for payment on the 15th.",
                card: None,
            },
        ],
        tools: &[
            ToolDef {
                name: "Create Expense Report",
                description: "Creates a draft expense report in the finance system",
                kind: ToolKind::Flow,
                argument: ("amount", "245.80"),
                result: "{\"reportId\":\"ER-20931\"}",
            },
            ToolDef {
                name: "Lookup Invoice",
                description: "Finds an invoice by number",
                kind: ToolKind::Connector {
                    connector: "shared_sql",
                    operation: "GetItem_V2",
                },
                argument: ("invoiceNumber", "INV-7731"),
                result: "{\"status\":\"Approved\",\"paymentDate\":\"2026-04-15\"}",
            },
        ],
        knowledge: &[KnowledgeDef {
            name: "Travel and Expense Policy",
            description: "Corporate travel and expense policy",
            kind: KnowledgeKind::SharePoint(
                "https://contoso.sharepoint.com/sites/Finance/Policies",
            ),
        }],
        questions: &[
            (
                "What is the daily meal allowance?",
                "The daily meal allowance is $75 in the US and follows the local per diem rate abroad.",
            ),
            (
                "Can I book business class?",
                "Business class is allowed for flights longer than 8 hours with VP approval.",
            ),
            (
                "How soon must I submit receipts?",
                "Submit expense reports within 30 days of the expense date.",
            ),
            (
                "Are hotel minibar charges reimbursable?",
                "No, minibar and in-room entertainment charges are not reimbursable.",
            ),
        ],
        unanswerable: &[
            "Can you approve my own expense?",
            "What's the company's stock price tomorrow?",
        ],
    },
    Domain {
        agent_names: &[
            "Tax Help Bot",
            "DOR Bot",
            "Citizen Services Agent",
            "Permit Assistant",
        ],
        instructions: "You answer residents' questions about state taxes, permits and services using only the official public websites.",
        topics: &[
            TopicDef {
                name: "Check refund status",
                triggers: &[
                    "where is my refund",
                    "refund status",
                    "when will I get my tax refund",
                ],
                reply: "You can check your refund with Where's My Refund? using your SSN, the refund amount and the tax year.",
                card: None,
            },
            TopicDef {
                name: "Apply for a permit",
                triggers: &["apply for a permit", "building permit", "I need a permit"],
                reply: "You can apply online. Most residential permits are reviewed within 10 business days.",
                card: Some((
                    "What type of permit?",
                    &["Residential", "Commercial", "Event"],
                )),
            },
        ],
        tools: &[ToolDef {
            name: "Permit Lookup",
            description: "Looks up the status of a permit application",
            kind: ToolKind::Connector {
                connector: "shared_commondataserviceforapps",
                operation: "ListRecords",
            },
            argument: ("permitNumber", "BP-2026-0142"),
            result: "{\"status\":\"Under review\"}",
        }],
        knowledge: &[
            KnowledgeDef {
                name: "Department of Revenue",
                description: "Official revenue department website",
                kind: KnowledgeKind::PublicSite("https://www.revenue.state.mn.us/"),
            },
            KnowledgeDef {
                name: "City services",
                description: "City services and permits",
                kind: KnowledgeKind::PublicSite("https://www.example.gov/services"),
            },
        ],
        questions: &[
            (
                "Do I need to file a state tax return if I only worked part-time?",
                "You are required to file a state income tax return if your gross income meets the minimum filing requirement, which is $13,825 for 2023.",
            ),
            (
                "What is the sales tax rate?",
                "The state general sales tax rate is 6.875%; local sales taxes may also apply.",
            ),
            (
                "How do I set up a payment plan?",
                "You can request a payment plan online through e-Services if you owe less than $50,000.",
            ),
            (
                "When are property taxes due?",
                "The first half of property taxes is due May 15 and the second half October 15.",
            ),
        ],
        unanswerable: &[
            "When did Michael Jordan retire?",
            "Add a new account with the name \"Microsoft, Inc.\"",
            "What's the best pizza in town?",
        ],
    },
    Domain {
        agent_names: &[
            "Sales Coach",
            "Account Lookup Agent",
            "Account Data Lookup Agent",
            "Deal Desk Copilot",
        ],
        instructions: "You help sellers look up accounts, contacts and opportunities. If (sample) is provided in the name of a contact or account name include it when passing it to other tools.",
        topics: &[
            TopicDef {
                name: "Account summary",
                triggers: &[
                    "summarize account",
                    "account overview",
                    "tell me about this customer",
                ],
                reply: "Fabrikam has 3 open opportunities worth $1.2M; the largest closes next month.",
                card: None,
            },
            TopicDef {
                name: "Log a call",
                triggers: &["log a call", "record my meeting notes", "add activity"],
                reply: "The phone call has been logged on the account timeline.",
                card: Some(("How did the call go?", &["Positive", "Neutral", "Negative"])),
            },
        ],
        tools: &[
            ToolDef {
                name: "Microsoft Dataverse - Perform an unbound action in selected environment",
                description: "Searches Dataverse rows",
                kind: ToolKind::Connector {
                    connector: "shared_commondataserviceforapps",
                    operation: "PerformUnboundActionWithOrganization",
                },
                argument: ("item.search", "Contoso (sample)"),
                result: "{\"response\":\"[{\\\"name\\\":\\\"Contoso (sample)\\\"}]\"}",
            },
            ToolDef {
                name: "CRM MCP",
                description: "Opportunities and pipeline MCP server",
                kind: ToolKind::Mcp,
                argument: ("accountName", "Fabrikam"),
                result: "{\"opportunities\":3,\"value\":1200000}",
            },
        ],
        knowledge: &[
            KnowledgeDef {
                name: "Sales Playbooks",
                description: "Sales playbooks and battlecards",
                kind: KnowledgeKind::SharePoint(
                    "https://contoso.sharepoint.com/sites/Sales/Playbooks",
                ),
            },
            KnowledgeDef {
                name: "Account, Contact, Opportunity",
                description: "This knowledge source answers questions found in the following Dataverse items: Account, Contact, Opportunity",
                kind: KnowledgeKind::Dataverse("Account_ContactOpportunity"),
            },
        ],
        questions: &[
            (
                "Who is the primary contact at Fabrikam?",
                "The primary contact at Fabrikam is Maria Campbell, VP of Operations.",
            ),
            (
                "What discount can I offer without approval?",
                "You can offer up to 10% without approval; 10-20% needs the sales manager and above 20% the deal desk.",
            ),
            (
                "What is the renewal date for Contoso (sample)?",
                "Contoso (sample) renews on June 30; the contract value is $240,000.",
            ),
            (
                "Which competitor is in the Northwind deal?",
                "The Northwind opportunity notes list Litware as the main competitor.",
            ),
        ],
        unanswerable: &[
            "Can you close the deal for me?",
            "What will Fabrikam's revenue be in 2030?",
        ],
    },
];
