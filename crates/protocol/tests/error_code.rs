//! Checks of the Kafka error-code table in `sluice_protocol::error_code`.

use std::collections::HashSet;

use sluice_protocol::ErrorCode;

#[test]
fn all_is_strictly_ascending_so_codes_are_unique() {
    for pair in ErrorCode::ALL.windows(2) {
        assert!(
            pair[0].code() < pair[1].code(),
            "{:?} ({}) is not before {:?} ({})",
            pair[0],
            pair[0].code(),
            pair[1],
            pair[1].code()
        );
    }
}

#[test]
fn codes_and_names_are_unique() {
    let codes: HashSet<i16> = ErrorCode::ALL.iter().map(|e| e.code()).collect();
    assert_eq!(codes.len(), ErrorCode::ALL.len());
    let names: HashSet<&str> = ErrorCode::ALL.iter().map(|e| e.name()).collect();
    assert_eq!(names.len(), ErrorCode::ALL.len());
}

#[test]
fn the_table_runs_from_minus_one_to_the_newest_code_without_gaps() {
    // Kafka has never skipped a value, so the table is dense: -1 and every code from 0 up.
    let first = ErrorCode::ALL.first().unwrap();
    let last = ErrorCode::ALL.last().unwrap();
    assert_eq!(*first, ErrorCode::UnknownServerError);
    assert_eq!(*last, ErrorCode::ControllerIdNotRegistered);
    assert_eq!(last.code(), 136);
    let expected: Vec<i16> = (-1..=last.code()).collect();
    let actual: Vec<i16> = ErrorCode::ALL.iter().map(|e| e.code()).collect();
    assert_eq!(actual, expected);
}

#[test]
fn from_code_round_trips_every_code() {
    for &error in ErrorCode::ALL {
        assert_eq!(ErrorCode::from_code(error.code()), Some(error), "{error:?}");
        assert_eq!(i16::from(error), error.code());
        assert_eq!(error as i16, error.code());
    }
}

#[test]
fn from_code_rejects_codes_kafka_does_not_define() {
    let newest = ErrorCode::ALL.last().unwrap().code();
    for code in [i16::MIN, -1000, -3, -2, newest + 1, 1000, i16::MAX] {
        assert_eq!(ErrorCode::from_code(code), None, "{code}");
    }
}

#[test]
fn names_are_kafka_constant_names() {
    for &error in ErrorCode::ALL {
        let name = error.name();
        assert!(!name.is_empty());
        assert!(
            name.chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'),
            "{name}"
        );
        // The variant is the UpperCamelCase form of the name.
        let camel: String = name
            .split('_')
            .map(|word| {
                let mut chars = word.chars();
                let head = chars.next().unwrap();
                head.to_string() + &chars.as_str().to_ascii_lowercase()
            })
            .collect();
        assert_eq!(format!("{error:?}"), camel);
    }
}

#[test]
fn every_error_has_a_message_and_none_has_none() {
    for &error in ErrorCode::ALL {
        if error == ErrorCode::None {
            assert_eq!(error.message(), "");
        } else {
            assert!(!error.message().is_empty(), "{error:?}");
        }
    }
}

#[test]
fn is_error_is_false_only_for_none() {
    for &error in ErrorCode::ALL {
        assert_eq!(error.is_error(), error != ErrorCode::None, "{error:?}");
    }
}

/// Spot checks against Kafka's `Errors.java` and the superclass of each mapped exception.
#[test]
fn well_known_entries_match_kafka() {
    #[rustfmt::skip]
    let cases: &[(ErrorCode, i16, &str, bool)] = &[
        (ErrorCode::UnknownServerError, -1, "UNKNOWN_SERVER_ERROR", false),
        (ErrorCode::None, 0, "NONE", false),
        (ErrorCode::OffsetOutOfRange, 1, "OFFSET_OUT_OF_RANGE", false),
        (ErrorCode::CorruptMessage, 2, "CORRUPT_MESSAGE", true),
        (ErrorCode::UnknownTopicOrPartition, 3, "UNKNOWN_TOPIC_OR_PARTITION", true),
        (ErrorCode::NotLeaderOrFollower, 6, "NOT_LEADER_OR_FOLLOWER", true),
        (ErrorCode::RequestTimedOut, 7, "REQUEST_TIMED_OUT", true),
        (ErrorCode::BrokerNotAvailable, 8, "BROKER_NOT_AVAILABLE", false),
        (ErrorCode::CoordinatorLoadInProgress, 14, "COORDINATOR_LOAD_IN_PROGRESS", true),
        (ErrorCode::NotCoordinator, 16, "NOT_COORDINATOR", true),
        (ErrorCode::IllegalGeneration, 22, "ILLEGAL_GENERATION", false),
        (ErrorCode::UnknownMemberId, 25, "UNKNOWN_MEMBER_ID", false),
        (ErrorCode::RebalanceInProgress, 27, "REBALANCE_IN_PROGRESS", false),
        (ErrorCode::UnsupportedVersion, 35, "UNSUPPORTED_VERSION", false),
        (ErrorCode::TopicAlreadyExists, 36, "TOPIC_ALREADY_EXISTS", false),
        (ErrorCode::NotController, 41, "NOT_CONTROLLER", true),
        (ErrorCode::OutOfOrderSequenceNumber, 45, "OUT_OF_ORDER_SEQUENCE_NUMBER", false),
        (ErrorCode::InvalidProducerEpoch, 47, "INVALID_PRODUCER_EPOCH", false),
        (ErrorCode::ConcurrentTransactions, 51, "CONCURRENT_TRANSACTIONS", true),
        (ErrorCode::KafkaStorageError, 56, "KAFKA_STORAGE_ERROR", true),
        (ErrorCode::UnknownProducerId, 59, "UNKNOWN_PRODUCER_ID", false),
        (ErrorCode::MemberIdRequired, 79, "MEMBER_ID_REQUIRED", false),
        (ErrorCode::FencedInstanceId, 82, "FENCED_INSTANCE_ID", false),
        (ErrorCode::ElectionNotNeeded, 84, "ELECTION_NOT_NEEDED", true),
        (ErrorCode::ThrottlingQuotaExceeded, 89, "THROTTLING_QUOTA_EXCEEDED", true),
        (ErrorCode::ProducerFenced, 90, "PRODUCER_FENCED", false),
        (ErrorCode::UnknownTopicId, 100, "UNKNOWN_TOPIC_ID", true),
        (ErrorCode::FencedMemberEpoch, 110, "FENCED_MEMBER_EPOCH", false),
        (ErrorCode::TransactionAbortable, 120, "TRANSACTION_ABORTABLE", false),
        (ErrorCode::ShareSessionLimitReached, 133, "SHARE_SESSION_LIMIT_REACHED", true),
    ];
    for &(error, code, name, retriable) in cases {
        assert_eq!(error.code(), code, "{name}");
        assert_eq!(error.name(), name, "{name}");
        assert_eq!(error.is_retriable(), retriable, "{name}");
        assert_eq!(ErrorCode::from_code(code), Some(error), "{name}");
    }
}

/// The full retriable set: the codes whose Kafka exception extends `RetriableException`.
#[test]
fn retriable_codes_are_exactly_kafkas() {
    let expected: Vec<i16> = vec![
        2, 3, 5, 6, 7, 9, 13, 14, 15, 16, 19, 20, 41, 51, 56, 70, 71, 72, 74, 75, 78, 80, 83, 84, 88, 89, 100, 103,
        106, 122, 123, 133,
    ];
    let actual: Vec<i16> = ErrorCode::ALL
        .iter()
        .filter(|e| e.is_retriable())
        .map(|e| e.code())
        .collect();
    assert_eq!(actual, expected);
}

#[test]
fn display_shows_name_code_and_message() {
    assert_eq!(
        ErrorCode::UnknownTopicOrPartition.to_string(),
        "UNKNOWN_TOPIC_OR_PARTITION (3): This server does not host this topic-partition."
    );
    assert_eq!(
        ErrorCode::UnknownServerError.to_string(),
        "UNKNOWN_SERVER_ERROR (-1): The server experienced an unexpected error when processing the request."
    );
    assert_eq!(ErrorCode::None.to_string(), "NONE (0)");
}

#[test]
fn error_code_is_a_std_error() {
    let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(ErrorCode::RequestTimedOut);
    assert_eq!(boxed.to_string(), "REQUEST_TIMED_OUT (7): The request timed out.");
}

#[test]
fn accessors_work_in_const_context() {
    const NOT_CONTROLLER: (i16, &str, bool, &str, bool) = (
        ErrorCode::NotController.code(),
        ErrorCode::NotController.name(),
        ErrorCode::NotController.is_retriable(),
        ErrorCode::NotController.message(),
        ErrorCode::NotController.is_error(),
    );
    let expected = (
        41,
        "NOT_CONTROLLER",
        true,
        "This is not the correct controller for this cluster.",
        true,
    );
    assert_eq!(NOT_CONTROLLER, expected);
}
